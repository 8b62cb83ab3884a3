// Package vcdsim is a VMware Cloud Director simulator that the unmodified
// go-vcloud-director SDK cannot tell from VCD, for the calls kaas makes; it is to kaas what
// govmomi's vcsim is to vSphere tools. It runs in-process (tests) or as the vcdsim binary
// (make run).
//
// What it simulates: the XML API under /api that govcd uses to log in (user and password,
// or API token), find orgs, VDCs, networks, catalogs and templates (with catalog item
// metadata), upload OVAs into the catalog and capture vApps into it, compose vApps,
// attach networks, add and remove VMs, read and write VM extraConfig (guestinfo) and
// metadata, power VMs on and off, undeploy and delete; tasks
// that take a configurable time and can fail; query paging; VCD's refusals (busy entity,
// duplicate name, deleting a running VM, 403 for unknown ids). It also serves what pyvcloud
// 23 (vcd-cli and CSE 3.1's client and server) reads from VCD's XML API (cse-rde.md §3):
// API versions 33.0 up to the configured highest (38.1 by default; 35.0 plays VCD 10.2, with
// no behaviors and no hooks, and keeps govcd's 37.0 listed: Config.MaxAPIVersion); GET and
// DELETE /api/session, the Session with its well-known
// links; Org documents with their VDC records query and task list links; the admin views of
// VDCs and users; the query list and typed queries (VDCs, catalogs, templates, users, tasks,
// extension services; admin variants) in records, idrecords and references formats, with
// FIQL filters, sorting and nextPage paging; and tasks as VCD keeps them: every task has an
// Owner, a User (who started it) and an Organization, and is read by the provider, its user
// and its org's administrators (roles are per user; see UserConfig.Role). A provider makes
// tasks of its own through an org's tasks list (POST /api/tasksList/{org}) and moves them
// with PUT /api/task/{id} until they finish. Behind each VM a guest
// (package guest) reads its user data as cloud-init and kubeadm would and reports through
// guestinfo. It also plays VCD's API-extension role: an extension registered through
// /api/admin/extension/service receives matching HTTP calls over AMQP, in VCD's envelope
// with the caller's security context, and its reply is returned, or a 504 after the
// extension timeout. Faults (errors and latency per operation, failed tasks,
// guests that never finish, and targeted ones: the next tasks of an operation on one vApp
// or on its VMs of one role fail or take longer, a guest's boot fails or hangs) are set at
// start or through /sim/faults, and /sim/inventory lists every vApp and VM with the task
// running on it.
//
// VMs are placed and sized as in VCD: each org VDC has storage profiles (in its document and
// at /api/vdcStorageProfile/{id}, one the default) and VM sizing policies assigned to it
// (/cloudapi/{1.0.0,2.0.0}/vdcComputePolicies and /vdcs/{id}/computePolicies, its own System
// Default among them). A VM gets the storage profile and sizing policy its compose or
// recompose names, or the VDC's defaults, and the CPUs and memory the policy fixes, else its
// template's; its VmSpecSection and virtual hardware show them, and reconfigureVm (or a PUT
// of its virtual hardware) changes them. VCD's refusals are kept: a profile or policy that
// is not the VDC's, hardware the policy fixes otherwise, CPU or memory changed while the VM
// runs.
//
// It also serves the cloudapi's Runtime Defined Entities as CSE's client (pyvcloud) and
// go-vcloud-director use them (cse-rde.md §1.2, §1.3, §1.5, §3.7): interfaces (VCD's
// vmware:k8s built in) and their behaviors, entity types with hooks, behavior overrides and
// behavior access controls (stored, never executed), entities created with a 202 and a task
// owned by the entity, read and written with ETags and If-Match, resolved against the
// required properties of their type's schema, shared by access controls, listed by type or
// interface with FIQL filters, sorting and paging; VCD's visibility rules (the System org
// sees everything; a tenant user its org's entities it owns, is granted, or administers by
// the type's rights); rights and rights bundles, a type bringing its bundle of five rights,
// published to tenant orgs; and the org VDCs. Users' rights are configured by name; the
// security context of a relayed call carries the URNs of those VCD grants.
//
// The provider's catalog holds the templates the configuration names (their catalog item
// metadata from it) and what providers put there through govcd (catalog.go): OVAs uploaded
// as UploadOvf does it (POST …/catalog/{id}/action/upload, the vApp template's
// descriptor.ovf transfer link, PUT of the descriptor, the files it names with their
// links, PUTs of their pieces with Content-Range, then VCD's import task), or downloaded by
// VCD itself (UploadOvfByLink) from a simulated internet (Config.Downloads: Ubuntu's cloud
// image URLs by default; any other URL fails the import as a 404); and vApps captured into
// it (CaptureVappTemplate; a running vApp is refused). An item exists from the moment its
// upload or capture starts, and its vApp template is ready (status 8) only when the task
// succeeded; a failed import leaves it at -1 (deletable), a stalled upload fails after
// Config.UploadTimeout, a cancelled one goes. Catalog items and vApp templates have
// metadata of their own (read, set, merged and deleted as for vApps), are deleted
// (DELETE of the item, or of the template with a task), and are listed by the catalog,
// vAppTemplate and catalogItem queries. WriteOVA (and `vcdsim ova`) makes a small OVA
// shaped like Ubuntu's cloud image (ubuntu64Guest, cloud-init's ProductSection), or one
// with Kubernetes installed (a ready-made template to import).
//
// A VM made from a template starts with what its template's disk holds: a configured
// template's Kubernetes, an imported OVA's OS (cloud-init and VMware Tools when its
// ProductSection offers user-data; otherwise a guest that never reports), or what a
// captured VM had installed. Its guest runs a template build when its user data writes
// /etc/kaas/build.env (the build's guest contract): it reports the steps in order over the
// boot delay and fails as Ubuntu would on a Kubernetes or containerd version, or a CNI
// manifest URL, that Config.Repository does not have, or a provider script that sh -n
// refuses, with guestinfo.kaas.error; targeted boot faults (failAt, hangAt) fail or hold a
// build step. A capture after done carries what was installed: a node of the captured
// template runs that Kubernetes version, and a node of a bare base image fails at kubeadm
// (not found).
//
// vApps are shared as VCD shares them (GET …/controlAccess/, POST …/action/controlAccess/):
// with users of the vApp's org at FullControl, Change or ReadOnly, or with the whole org.
//
// It plays VCD from the documents (vcd-api.md, cse-protocol.md, cse-rde.md, amqp.md) and
// its guests from the guestinfo contract, and shares no code with the kaas packages it
// tests: a simulator built from the code under test cannot catch a wire mistake. Its
// non-test code imports nothing of kaas outside deploy/vcdsim (deploy/scripts/check-imports.sh
// checks it).
//
// What it does not: vCenter, networking beyond an IP pool per network, storage beyond a
// VM's storage profile (no disks, limits or placement policies), edge gateways, OVF beyond
// one VM per template (no multi-VM vApp templates, no overwriting of an item by a capture,
// no media), the checksums of uploaded files, roles (a user's rights are configured, not
// given by a role; the organization administrator role only widens whose tasks a user
// reads), the running of behaviors and hooks, the cancellation of tasks other than an
// upload's, the rest of the cloudapi, and any call its clients do not make. A query filter
// on an attribute its record type lacks narrows nothing, where VCD would refuse it. It
// keeps its state in memory.
package vcdsim
