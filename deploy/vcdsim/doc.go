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
// It plays VCD from the documents (vcd-api.md, cse-protocol.md, amqp.md) and its guests from
// the guestinfo contract, and shares no code with the kaas packages it tests: a simulator
// built from the code under test cannot catch a wire mistake. Its non-test code imports
// nothing of kaas outside deploy/vcdsim (deploy/scripts/check-imports.sh checks it).
//
// What it does not: vCenter, networking beyond an IP pool per network, storage, edge
// gateways, the CloudAPI beyond sessions, rights beyond provider versus tenant, and any
// call kaas does not make. It keeps its state in memory.
package vcdsim
