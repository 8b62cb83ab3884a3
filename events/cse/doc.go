// Package cse holds the wire shapes of CSE 3.1's REST API that kaas serves unchanged: the
// v2.1 native cluster entity (apiVersion cse.vmware.com/v2.1), the DefEntity wrapper, the
// error body and the paged result, and the conversions between the entity and kaas's own
// events.ClusterSpec. The ingress decodes requests with it and the queries render
// responses with it, so both speak exactly the same dialect.
//
// Decoding is strict where CSE was lax: an unknown or mistyped field is an error that names
// the field by its path, so a tenant's typo is caught instead of silently ignored.
package cse
