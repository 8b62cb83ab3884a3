// Package template is the aggregate of one template revision (events.TemplateID): the pure
// functions that say what its events mean (Apply), whether a command may run (Decide), and
// what an operation in progress must do next (Plan), in the manner of events/cluster.
//
// A revision is made by a build (a temporary vApp on the recipe's base OS image, customized
// by its guest, captured into the catalog) or an import of a ready-made OVA; it is then
// deprecated, or deleted. A revision a provider put in the catalog by hand has no history
// here until it is deprecated or deleted. Nothing here does I/O or reads the clock: the
// executors drive VCD from Plan and record what happened, and the projector folds the same
// events with the same Apply.
package template
