// Package vcdsim is a VMware Cloud Director simulator that the unmodified
// go-vcloud-director SDK cannot tell from VCD, for the calls kaas makes; it is to kaas what
// govmomi's vcsim is to vSphere tools. It runs in-process (tests) or as the vcdsim binary
// (make run).
//
// What it simulates: the XML API under /api that govcd uses to log in (user and password,
// or API token), find orgs, VDCs, networks, catalogs and templates (with catalog item
// metadata), compose vApps, attach networks, add and remove VMs, read and write VM
// extraConfig (guestinfo) and metadata, power VMs on and off, undeploy and delete; tasks
// that take a configurable time and can fail; query paging; VCD's refusals (busy entity,
// duplicate name, deleting a running VM, 403 for unknown ids). Behind each VM a guest
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
// It plays VCD from the documents (vcd-api.md, cse-protocol.md, cse-rde.md, amqp.md) and its guests from
// the guestinfo contract, and shares no code with the kaas packages it tests: a simulator
// built from the code under test cannot catch a wire mistake. Its non-test code imports
// nothing of kaas outside deploy/vcdsim (deploy/scripts/check-imports.sh checks it).
//
// What it does not: vCenter, networking beyond an IP pool per network, storage, edge
// gateways, roles (a user's rights are configured, not given by a role), the running of
// behaviors and hooks, the rest of the cloudapi, and any call its clients do not make. It
// keeps its state in memory.
package vcdsim
