package events

import (
	"encoding/json"
	"time"
	"unicode/utf8"
)

// unmarshalFast decodes a record exactly as Marshal writes it, at the current schema
// version, without reflection: replaying history is mostly decoding. It reports false for
// anything else (another field order, an unknown or repeated key, a null where Marshal
// writes none, an older version, invalid JSON), and Unmarshal's general path then decides,
// with its own errors. Whatever it accepts decodes to the same Envelope as the general path
// (FuzzUnmarshal checks).
func unmarshalFast(b []byte) (Envelope, bool) {
	d := dec{b: b}
	var e Envelope
	if !d.open() {
		return Envelope{}, false
	}
	d.str("id", &e.ID)
	if !d.key("type") {
		return Envelope{}, false
	}
	name := d.name()
	t, ok := types[string(name)]
	if !ok {
		return Envelope{}, false
	}
	d.next()
	version := -1 // absent: the general path reads it as version 1
	d.integer("schemaVersion", &version)
	d.str("clusterId", &e.ClusterID)
	d.str("orgId", &e.OrgID)
	d.str("actor", &e.Actor)
	d.timestamp("time", &e.Time)
	d.str("causationId", &e.CausationID)
	d.str("correlationId", &e.CorrelationID)
	d.str("prevHash", &e.PrevHash)
	if !d.key("data") {
		return Envelope{}, false
	}
	e.Payload = d.payload(name)
	d.next()
	d.close()
	d.ws()
	if d.bad || e.Payload == nil || d.i != len(b) || version != t.version || e.ID == "" || e.ClusterID == "" {
		return Envelope{}, false
	}
	e.Type, e.SchemaVersion = e.Payload.Type(), t.version // the type's own string: no copy
	return e, true
}

// dec reads JSON as Marshal writes it. Each struct's decode method asks for its fields in
// declaration order, so a repeated, misspelt or unknown key is never consumed and makes the
// object's end fail. It does not stop at the first problem: it sets bad, which every method
// checks, and the caller gives up at the end.
type dec struct {
	b     []byte
	i     int
	comma bool // a comma between members was read: a key must follow
	bad   bool
}

func (d *dec) fail() { d.bad = true }

func (d *dec) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, or 0 at the end.
func (d *dec) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// open reads the start of an object.
func (d *dec) open() bool {
	if d.bad || d.peek() != '{' {
		d.fail()
		return false
	}
	d.i++
	d.comma = false
	return true
}

// close reads the end of an object, after its last member.
func (d *dec) close() {
	if d.bad {
		return
	}
	if d.comma || d.peek() != '}' {
		d.fail()
		return
	}
	d.i++
}

// key reports whether the next member is called name, and if so reads its key and colon.
func (d *dec) key(name string) bool {
	if d.bad || d.peek() != '"' {
		return false
	}
	end := d.i + 1 + len(name)
	if end >= len(d.b) || d.b[end] != '"' || string(d.b[d.i+1:end]) != name {
		return false
	}
	d.i = end + 1
	if d.peek() != ':' {
		d.fail()
		return false
	}
	d.i++
	d.comma = false
	d.ws()
	return true
}

// next reads what follows a member's value: a comma, or the object's end, left for close.
func (d *dec) next() {
	if d.bad {
		return
	}
	switch d.peek() {
	case ',':
		d.i++
		d.comma = true
	case '}':
	default:
		d.fail()
	}
}

// null reads a null if there is one.
func (d *dec) null() bool {
	if d.bad || d.i+4 > len(d.b) || string(d.b[d.i:d.i+4]) != "null" {
		return false
	}
	d.i += 4
	return true
}

// plainByte tells the bytes a string can hold as they are: printable ASCII but the quote
// and the backslash.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// stringEnd returns the index after the string that starts at d.i, and whether it is plain
// printable ASCII that needs no unquoting.
func (d *dec) stringEnd() (end int, plain bool) {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return -1, false
	}
	j := d.i + 1
	for j < len(d.b) && plainByte[d.b[j]] {
		j++
	}
	if j < len(d.b) && d.b[j] == '"' {
		return j + 1, true
	}
	for ; j < len(d.b); j++ {
		switch d.b[j] {
		case '"':
			return j + 1, false
		case '\\':
			j++ // the escaped byte cannot end the string
		}
	}
	return -1, false
}

// stringValue reads a string.
func (d *dec) stringValue() string {
	if d.bad {
		return ""
	}
	end, plain := d.stringEnd()
	if end < 0 {
		d.fail()
		return ""
	}
	tok := d.b[d.i:end]
	d.i = end
	if plain {
		return string(tok[1 : len(tok)-1])
	}
	// Escapes, control characters and non-ASCII bytes are rare: encoding/json unquotes
	// them (or refuses them) exactly as the general path would.
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		d.fail()
	}
	return s
}

// name reads a plain string value without copying it, for looking up a registered name.
func (d *dec) name() []byte {
	if d.bad {
		return nil
	}
	end, plain := d.stringEnd()
	if end < 0 || !plain {
		d.fail()
		return nil
	}
	tok := d.b[d.i+1 : end-1]
	d.i = end
	return tok
}

// intValue reads an integer: JSON's -?(0|[1-9][0-9]*), small enough not to overflow. A
// fraction or an exponent is left unread, so next fails on it.
func (d *dec) intValue() int {
	if d.bad {
		return 0
	}
	j := d.i
	neg := j < len(d.b) && d.b[j] == '-'
	if neg {
		j++
	}
	start, n := j, 0
	for ; j < len(d.b) && '0' <= d.b[j] && d.b[j] <= '9'; j++ {
		n = n*10 + int(d.b[j]-'0')
	}
	if digits := j - start; digits == 0 || digits > 18 || (d.b[start] == '0' && digits > 1) {
		d.fail()
		return 0
	}
	d.i = j
	if neg {
		return -n
	}
	return n
}

// boolValue reads true or false.
func (d *dec) boolValue() bool {
	switch {
	case d.bad:
	case d.i+4 <= len(d.b) && string(d.b[d.i:d.i+4]) == "true":
		d.i += 4
		return true
	case d.i+5 <= len(d.b) && string(d.b[d.i:d.i+5]) == "false":
		d.i += 5
	default:
		d.fail()
	}
	return false
}

// timeValue reads a time as Marshal writes it (RFC 3339 in UTC) and leaves any other form to
// time.Time's own UnmarshalJSON, as encoding/json does.
func (d *dec) timeValue() time.Time {
	if d.bad {
		return time.Time{}
	}
	end, plain := d.stringEnd()
	if end < 0 {
		d.fail()
		return time.Time{}
	}
	tok := d.b[d.i:end]
	d.i = end
	if plain {
		if t, ok := parseUTC(tok[1 : len(tok)-1]); ok {
			return t
		}
	}
	var t time.Time
	if err := t.UnmarshalJSON(tok); err != nil {
		d.fail()
	}
	return t
}

// parseUTC parses 2006-01-02T15:04:05Z with an optional fraction of 1 to 9 digits, as
// time's RFC 3339 parser does, and reports false for anything else.
func parseUTC(s []byte) (time.Time, bool) {
	const layout = "2006-01-02T15:04:05Z"
	if len(s) < len(layout) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[len(s)-1] != 'Z' {
		return time.Time{}, false
	}
	ok := true
	num := func(b []byte) int {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				ok = false
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day := num(s[0:4]), num(s[5:7]), num(s[8:10])
	hour, minute, sec := num(s[11:13]), num(s[14:16]), num(s[17:19])
	nsec := 0
	if frac := s[19 : len(s)-1]; len(frac) > 0 {
		if len(frac) < 2 || len(frac) > 10 || frac[0] != '.' {
			return time.Time{}, false
		}
		nsec = num(frac[1:])
		for range 10 - len(frac) {
			nsec *= 10
		}
	}
	if !ok || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// Member readers: each reads the member if it comes next, with the comma after it. A
// member that is absent keeps its zero value, as encoding/json leaves it.

func (d *dec) str(name string, s *string) {
	if d.key(name) {
		*s = d.stringValue()
		d.next()
	}
}

func (d *dec) integer(name string, n *int) {
	if d.key(name) {
		*n = d.intValue()
		d.next()
	}
}

func (d *dec) boolean(name string, v *bool) {
	if d.key(name) {
		*v = d.boolValue()
		d.next()
	}
}

func (d *dec) timestamp(name string, t *time.Time) {
	if d.key(name) {
		*t = d.timeValue()
		d.next()
	}
}

// array reads the start of an array, or a null, which leaves the slice nil as encoding/json
// does.
func (d *dec) array() bool {
	if d.null() {
		return false
	}
	if d.bad || d.peek() != '[' {
		d.fail()
		return false
	}
	d.i++
	return true
}

// elem reports whether element i of the array follows, after reading the comma before it,
// or else reads the array's end.
func (d *dec) elem(i int) bool {
	if d.bad {
		return false
	}
	switch c := d.peek(); {
	case c == ']':
		d.i++
		return false
	case i == 0:
		return true
	case c == ',':
		d.i++
		d.ws()
		return true
	}
	d.fail()
	return false
}

func (d *dec) strs(name string, s *[]string) {
	if !d.key(name) {
		return
	}
	if d.array() {
		*s = []string{} // [] is an empty slice, not nil, for encoding/json
		for i := 0; d.elem(i); i++ {
			*s = append(*s, d.stringValue())
		}
	}
	d.next()
}

func (d *dec) templates(name string, s *[]Template) {
	if !d.key(name) {
		return
	}
	if d.array() {
		*s = []Template{}
		for i := 0; d.elem(i); i++ {
			var t Template
			t.decode(d)
			*s = append(*s, t)
		}
	}
	d.next()
}

func (d *dec) vdcs(name string, s *[]VDC) {
	if !d.key(name) {
		return
	}
	if d.array() {
		*s = []VDC{}
		for i := 0; d.elem(i); i++ {
			var v VDC
			v.decode(d)
			*s = append(*s, v)
		}
	}
	d.next()
}

func (d *dec) vdcNetworks(name string, s *[]VDCNetworks) {
	if !d.key(name) {
		return
	}
	if d.array() {
		*s = []VDCNetworks{}
		for i := 0; d.elem(i); i++ {
			var v VDCNetworks
			v.decode(d)
			*s = append(*s, v)
		}
	}
	d.next()
}

func (d *dec) networks(name string, s *[]Network) {
	if !d.key(name) {
		return
	}
	if d.array() {
		*s = []Network{}
		for i := 0; d.elem(i); i++ {
			var n Network
			n.decode(d)
			*s = append(*s, n)
		}
	}
	d.next()
}

func (d *dec) users(name string, s *[]User) {
	if !d.key(name) {
		return
	}
	if d.array() {
		*s = []User{}
		for i := 0; d.elem(i); i++ {
			var u User
			u.decode(d)
			*s = append(*s, u)
		}
	}
	d.next()
}

func (d *dec) vdcStorageProfiles(name string, s *[]VDCStorageProfiles) {
	if !d.key(name) {
		return
	}
	if d.array() {
		*s = []VDCStorageProfiles{}
		for i := 0; d.elem(i); i++ {
			var v VDCStorageProfiles
			v.decode(d)
			*s = append(*s, v)
		}
	}
	d.next()
}

func (d *dec) storageProfiles(name string, s *[]StorageProfile) {
	if !d.key(name) {
		return
	}
	if d.array() {
		*s = []StorageProfile{}
		for i := 0; d.elem(i); i++ {
			var p StorageProfile
			p.decode(d)
			*s = append(*s, p)
		}
	}
	d.next()
}

func (d *dec) vdcSizingPolicies(name string, s *[]VDCSizingPolicies) {
	if !d.key(name) {
		return
	}
	if d.array() {
		*s = []VDCSizingPolicies{}
		for i := 0; d.elem(i); i++ {
			var v VDCSizingPolicies
			v.decode(d)
			*s = append(*s, v)
		}
	}
	d.next()
}

func (d *dec) sizingPolicies(name string, s *[]SizingPolicy) {
	if !d.key(name) {
		return
	}
	if d.array() {
		*s = []SizingPolicy{}
		for i := 0; d.elem(i); i++ {
			var p SizingPolicy
			p.decode(d)
			*s = append(*s, p)
		}
	}
	d.next()
}

func (d *dec) acl(name string, s *[]ACLEntry) {
	if !d.key(name) {
		return
	}
	if d.array() {
		*s = []ACLEntry{}
		for i := 0; d.elem(i); i++ {
			var a ACLEntry
			a.decode(d)
			*s = append(*s, a)
		}
	}
	d.next()
}

// empty reads the {} of a payload without fields.
func (d *dec) empty() {
	d.open()
	d.close()
}

// payload reads the data of a registered type. Each case is a plain call, so that nothing
// but the payload itself is allocated. A type without a case decodes by the general path
// (TestFastDecoders checks there is none).
func (d *dec) payload(name []byte) Payload {
	switch string(name) {
	case TypeCreateCluster:
		var p CreateCluster
		p.decode(d)
		return p
	case TypeScaleWorkers:
		var p ScaleWorkers
		p.decode(d)
		return p
	case TypeUpgradeTemplate:
		var p UpgradeTemplate
		p.decode(d)
		return p
	case TypeDeleteCluster:
		d.empty()
		return DeleteCluster{}
	case TypeForceDeleteCluster:
		d.empty()
		return ForceDeleteCluster{}
	case TypeSetClusterACL:
		var p SetClusterACL
		p.decode(d)
		return p
	case TypeDeleteNFSNode:
		var p DeleteNFSNode
		p.decode(d)
		return p
	case TypeSyncCloud:
		d.empty()
		return SyncCloud{}
	case TypeSetVDCRuntimes:
		var p SetVDCRuntimes
		p.decode(d)
		return p
	case TypeSetServiceState:
		var p SetServiceState
		p.decode(d)
		return p

	case TypeClusterCreationStarted:
		var p ClusterCreationStarted
		p.decode(d)
		return p
	case TypeTemplateResolved:
		var p TemplateResolved
		p.decode(d)
		return p
	case TypeVAppCreated:
		var p VAppCreated
		p.decode(d)
		return p
	case TypeNodeCreated:
		var p NodeCreated
		p.decode(d)
		return p
	case TypeNodeStarted:
		var p NodeStarted
		p.decode(d)
		return p
	case TypeControlPlaneInitialized:
		var p ControlPlaneInitialized
		p.decode(d)
		return p
	case TypeNodeJoined:
		var p NodeJoined
		p.decode(d)
		return p
	case TypeNodeReady:
		var p NodeReady
		p.decode(d)
		return p
	case TypeClusterCreated:
		d.empty()
		return ClusterCreated{}
	case TypeStepRetrying:
		var p StepRetrying
		p.decode(d)
		return p
	case TypeOperationFailed:
		var p OperationFailed
		p.decode(d)
		return p
	case TypeNodeDeleted:
		var p NodeDeleted
		p.decode(d)
		return p
	case TypeVAppDeleted:
		var p VAppDeleted
		p.decode(d)
		return p
	case TypeOperationRolledBack:
		d.empty()
		return OperationRolledBack{}
	case TypeWorkersScaleStarted:
		var p WorkersScaleStarted
		p.decode(d)
		return p
	case TypeClusterScaled:
		var p ClusterScaled
		p.decode(d)
		return p
	case TypeClusterUpgradeStarted:
		var p ClusterUpgradeStarted
		p.decode(d)
		return p
	case TypeNodeUpgradeRequested:
		var p NodeUpgradeRequested
		p.decode(d)
		return p
	case TypeNodeUpgraded:
		var p NodeUpgraded
		p.decode(d)
		return p
	case TypeClusterUpgraded:
		var p ClusterUpgraded
		p.decode(d)
		return p
	case TypeClusterDeletionStarted:
		var p ClusterDeletionStarted
		p.decode(d)
		return p
	case TypeClusterDeleted:
		d.empty()
		return ClusterDeleted{}
	case TypeCommandRejected:
		var p CommandRejected
		p.decode(d)
		return p
	case TypeNFSNodeDeletionStarted:
		var p NFSNodeDeletionStarted
		p.decode(d)
		return p
	case TypeNFSNodeRemoved:
		var p NFSNodeRemoved
		p.decode(d)
		return p
	case TypeClusterACLChanged:
		var p ClusterACLChanged
		p.decode(d)
		return p
	case TypeCloudSynced:
		var p CloudSynced
		p.decode(d)
		return p
	case TypeVDCRuntimesChanged:
		var p VDCRuntimesChanged
		p.decode(d)
		return p
	case TypeServiceStateChanged:
		var p ServiceStateChanged
		p.decode(d)
		return p
	}
	return d.templatePayload(name)
}

// templatePayload reads the data of a template aggregate's type.
func (d *dec) templatePayload(name []byte) Payload {
	switch string(name) {
	case TypeBuildTemplate:
		var p BuildTemplate
		p.decode(d)
		return p
	case TypeImportTemplate:
		var p ImportTemplate
		p.decode(d)
		return p
	case TypeDeprecateTemplate:
		var p DeprecateTemplate
		p.decode(d)
		return p
	case TypeDeleteTemplate:
		var p DeleteTemplate
		p.decode(d)
		return p
	case TypeTemplateBuildStarted:
		var p TemplateBuildStarted
		p.decode(d)
		return p
	case TypeBaseImageReady:
		var p BaseImageReady
		p.decode(d)
		return p
	case TypeBuildVAppCreated:
		var p BuildVAppCreated
		p.decode(d)
		return p
	case TypeBuildVMCreated:
		var p BuildVMCreated
		p.decode(d)
		return p
	case TypeBuildVMStarted:
		d.empty()
		return BuildVMStarted{}
	case TypeTemplateBuildProgressed:
		var p TemplateBuildProgressed
		p.decode(d)
		return p
	case TypeBuildCustomized:
		d.empty()
		return BuildCustomized{}
	case TypeBuildVMStopped:
		d.empty()
		return BuildVMStopped{}
	case TypeTemplateCaptured:
		var p TemplateCaptured
		p.decode(d)
		return p
	case TypeBuildVAppDeleted:
		d.empty()
		return BuildVAppDeleted{}
	case TypeTemplateBuilt:
		var p TemplateBuilt
		p.decode(d)
		return p
	case TypeTemplateImportStarted:
		var p TemplateImportStarted
		p.decode(d)
		return p
	case TypeTemplateImported:
		var p TemplateImported
		p.decode(d)
		return p
	case TypeTemplateDeprecated:
		var p TemplateDeprecated
		p.decode(d)
		return p
	case TypeTemplateDeletionStarted:
		var p TemplateDeletionStarted
		p.decode(d)
		return p
	case TypeTemplateDeleted:
		var p TemplateDeleted
		p.decode(d)
		return p
	}
	d.fail()
	return nil
}

// Decode methods, one per struct: the members in declaration order, with their JSON names.

func (s *ClusterSpec) decode(d *dec) {
	d.open()
	d.str("name", &s.Name)
	d.str("orgName", &s.OrgName)
	d.str("vdc", &s.VDC)
	d.str("site", &s.Site)
	if d.key("template") {
		s.Template.decode(d)
		d.next()
	}
	if d.key("controlPlane") {
		s.ControlPlane.decode(d)
		d.next()
	}
	if d.key("workers") {
		s.Workers.decode(d)
		d.next()
	}
	if d.key("nfs") {
		s.NFS.decode(d)
		d.next()
	}
	d.str("network", &s.Network)
	d.str("sshKey", &s.SSHKey)
	d.boolean("rollbackOnFailure", &s.RollbackOnFailure)
	d.boolean("expose", &s.Expose)
	d.strs("podCidrs", &s.PodCIDRs)
	d.strs("serviceCidrs", &s.ServiceCIDRs)
	if d.key("cni") {
		s.CNI.decode(d)
		d.next()
	}
	d.close()
}

func (t *TemplateRef) decode(d *dec) {
	d.open()
	d.str("name", &t.Name)
	d.integer("revision", &t.Revision)
	d.close()
}

func (p *NodePool) decode(d *dec) {
	d.open()
	d.integer("count", &p.Count)
	d.str("sizingClass", &p.SizingClass)
	d.str("storageProfile", &p.StorageProfile)
	d.integer("cpu", &p.CPU)
	d.integer("memoryMb", &p.MemoryMB)
	d.close()
}

func (c *Component) decode(d *dec) {
	d.open()
	d.str("name", &c.Name)
	d.str("version", &c.Version)
	d.close()
}

func (t *Template) decode(d *dec) {
	d.open()
	d.str("name", &t.Name)
	d.integer("revision", &t.Revision)
	d.str("catalog", &t.Catalog)
	d.str("catalogItemId", &t.CatalogItemID)
	d.str("kubernetesVersion", &t.KubernetesVersion)
	d.str("os", &t.OS)
	if d.key("cni") {
		t.CNI.decode(d)
		d.next()
	}
	d.str("dockerVersion", &t.DockerVersion)
	d.boolean("deprecated", &t.Deprecated)
	d.str("description", &t.Description)
	d.str("containerdVersion", &t.ContainerdVersion)
	if d.key("rules") {
		t.Rules.decode(d)
		d.next()
	}
	d.str("source", &t.Source)
	d.close()
}

func (f *Failure) decode(d *dec) {
	d.open()
	d.str("code", &f.Code)
	d.str("message", &f.Message)
	d.str("step", &f.Step)
	d.str("vcdCode", &f.VCDCode)
	d.str("vcdMessage", &f.VCDMessage)
	d.close()
}

func (a *ACLEntry) decode(d *dec) {
	d.open()
	d.str("memberId", &a.MemberID)
	d.str("username", &a.Username)
	d.str("accessLevel", &a.AccessLevel)
	d.close()
}

func (v *VDC) decode(d *dec) {
	d.open()
	d.str("id", &v.ID)
	d.str("name", &v.Name)
	d.str("orgName", &v.OrgName)
	d.str("orgId", &v.OrgID)
	d.close()
}

func (u *User) decode(d *dec) {
	d.open()
	d.str("id", &u.ID)
	d.str("name", &u.Name)
	d.str("orgId", &u.OrgID)
	d.close()
}

func (v *VDCNetworks) decode(d *dec) {
	d.open()
	d.str("vdc", &v.VDC)
	d.networks("networks", &v.Networks)
	d.close()
}

func (n *Network) decode(d *dec) {
	d.open()
	d.str("name", &n.Name)
	d.strs("cidrs", &n.CIDRs)
	d.close()
}

func (v *VDCStorageProfiles) decode(d *dec) {
	d.open()
	d.str("vdc", &v.VDC)
	d.storageProfiles("profiles", &v.Profiles)
	d.close()
}

func (p *StorageProfile) decode(d *dec) {
	d.open()
	d.str("name", &p.Name)
	d.boolean("default", &p.Default)
	d.close()
}

func (v *VDCSizingPolicies) decode(d *dec) {
	d.open()
	d.str("vdc", &v.VDC)
	d.sizingPolicies("policies", &v.Policies)
	d.close()
}

func (p *SizingPolicy) decode(d *dec) {
	d.open()
	d.str("name", &p.Name)
	d.str("id", &p.ID)
	d.integer("cpu", &p.CPU)
	d.integer("memoryMb", &p.MemoryMB)
	d.close()
}

func (c *CreateCluster) decode(d *dec) {
	d.open()
	if d.key("spec") {
		c.Spec.decode(d)
		d.next()
	}
	d.close()
}

func (c *ScaleWorkers) decode(d *dec) {
	d.open()
	d.integer("workers", &c.Workers)
	d.close()
}

func (c *UpgradeTemplate) decode(d *dec) {
	d.open()
	if d.key("template") {
		c.Template.decode(d)
		d.next()
	}
	d.close()
}

func (c *SetClusterACL) decode(d *dec) {
	d.open()
	d.acl("entries", &c.Entries)
	d.close()
}

func (c *DeleteNFSNode) decode(d *dec) {
	d.open()
	d.str("node", &c.Node)
	d.close()
}

func (c *SetVDCRuntimes) decode(d *dec) {
	d.open()
	if d.key("vdc") {
		c.VDC.decode(d)
		d.next()
	}
	d.strs("runtimes", &c.Runtimes)
	d.close()
}

func (c *SetServiceState) decode(d *dec) {
	d.open()
	d.boolean("enabled", &c.Enabled)
	d.close()
}

func (e *ClusterCreationStarted) decode(d *dec) {
	d.open()
	if d.key("spec") {
		e.Spec.decode(d)
		d.next()
	}
	d.close()
}

func (e *TemplateResolved) decode(d *dec) {
	d.open()
	if d.key("template") {
		e.Template.decode(d)
		d.next()
	}
	d.close()
}

func (e *VAppCreated) decode(d *dec) {
	d.open()
	d.str("vappId", &e.VAppID)
	d.str("name", &e.Name)
	d.close()
}

func (e *NodeCreated) decode(d *dec) {
	d.open()
	d.str("name", &e.Name)
	d.str("role", &e.Role)
	d.integer("ordinal", &e.Ordinal)
	d.str("vmId", &e.VMID)
	d.close()
}

func (e *NodeStarted) decode(d *dec) {
	d.open()
	d.str("name", &e.Name)
	d.close()
}

func (e *ControlPlaneInitialized) decode(d *dec) {
	d.open()
	d.str("node", &e.Node)
	d.str("ip", &e.IP)
	d.str("endpoint", &e.Endpoint)
	d.str("kubeconfigRef", &e.KubeconfigRef)
	d.str("joinCommandRef", &e.JoinCommandRef)
	d.close()
}

func (e *NodeJoined) decode(d *dec) {
	d.open()
	d.str("name", &e.Name)
	d.str("ip", &e.IP)
	d.close()
}

func (e *NodeReady) decode(d *dec) {
	d.open()
	d.str("name", &e.Name)
	d.str("ip", &e.IP)
	d.close()
}

func (e *StepRetrying) decode(d *dec) {
	d.open()
	d.str("step", &e.Step)
	d.integer("attempt", &e.Attempt)
	if d.key("failure") {
		e.Failure.decode(d)
		d.next()
	}
	d.timestamp("notUntil", &e.NotUntil)
	d.close()
}

func (e *OperationFailed) decode(d *dec) {
	d.open()
	if d.key("failure") {
		e.Failure.decode(d)
		d.next()
	}
	d.boolean("rollback", &e.Rollback)
	d.close()
}

func (e *NodeDeleted) decode(d *dec) {
	d.open()
	d.str("name", &e.Name)
	d.close()
}

func (e *VAppDeleted) decode(d *dec) {
	d.open()
	d.str("vappId", &e.VAppID)
	d.close()
}

func (e *WorkersScaleStarted) decode(d *dec) {
	d.open()
	d.integer("from", &e.From)
	d.integer("to", &e.To)
	d.close()
}

func (e *ClusterScaled) decode(d *dec) {
	d.open()
	d.integer("workers", &e.Workers)
	d.close()
}

func (e *ClusterUpgradeStarted) decode(d *dec) {
	d.open()
	if d.key("from") {
		e.From.decode(d)
		d.next()
	}
	if d.key("to") {
		e.To.decode(d)
		d.next()
	}
	d.close()
}

func (e *NodeUpgradeRequested) decode(d *dec) {
	d.open()
	d.str("name", &e.Name)
	d.str("kubernetesVersion", &e.KubernetesVersion)
	d.close()
}

func (e *NodeUpgraded) decode(d *dec) {
	d.open()
	d.str("name", &e.Name)
	d.str("kubernetesVersion", &e.KubernetesVersion)
	d.close()
}

func (e *ClusterUpgraded) decode(d *dec) {
	d.open()
	if d.key("template") {
		e.Template.decode(d)
		d.next()
	}
	d.close()
}

func (e *ClusterDeletionStarted) decode(d *dec) {
	d.open()
	d.boolean("force", &e.Force)
	d.str("superseded", &e.Superseded)
	d.close()
}

func (e *CommandRejected) decode(d *dec) {
	d.open()
	d.str("commandType", &e.CommandType)
	if d.key("failure") {
		e.Failure.decode(d)
		d.next()
	}
	d.close()
}

func (e *NFSNodeDeletionStarted) decode(d *dec) {
	d.open()
	d.str("node", &e.Node)
	d.close()
}

func (e *NFSNodeRemoved) decode(d *dec) {
	d.open()
	d.str("node", &e.Node)
	d.close()
}

func (e *ClusterACLChanged) decode(d *dec) {
	d.open()
	d.acl("entries", &e.Entries)
	d.close()
}

func (e *CloudSynced) decode(d *dec) {
	d.open()
	d.templates("templates", &e.Templates)
	d.vdcs("vdcs", &e.VDCs)
	d.vdcNetworks("networks", &e.Networks)
	d.users("users", &e.Users)
	d.vdcStorageProfiles("storageProfiles", &e.StorageProfiles)
	d.vdcSizingPolicies("sizingPolicies", &e.SizingPolicies)
	d.close()
}

func (e *VDCRuntimesChanged) decode(d *dec) {
	d.open()
	if d.key("vdc") {
		e.VDC.decode(d)
		d.next()
	}
	d.strs("runtimes", &e.Runtimes)
	d.close()
}

func (e *ServiceStateChanged) decode(d *dec) {
	d.open()
	d.boolean("enabled", &e.Enabled)
	d.close()
}

func (r *TemplateRules) decode(d *dec) {
	d.open()
	d.integer("cpu", &r.CPU)
	d.integer("memoryMb", &r.MemoryMB)
	d.str("sizingPolicy", &r.SizingPolicy)
	d.close()
}

func (r *Recipe) decode(d *dec) {
	d.open()
	d.str("name", &r.Name)
	d.str("description", &r.Description)
	d.str("os", &r.OS)
	if d.key("base") {
		r.Base.decode(d)
		d.next()
	}
	d.str("kubernetesVersion", &r.KubernetesVersion)
	d.str("containerdVersion", &r.ContainerdVersion)
	if d.key("cni") {
		r.CNI.decode(d)
		d.next()
	}
	if d.key("rules") {
		r.Rules.decode(d)
		d.next()
	}
	if d.key("scripts") {
		if d.array() {
			r.Scripts = []RecipeScript{}
			for i := 0; d.elem(i); i++ {
				var s RecipeScript
				s.decode(d)
				r.Scripts = append(r.Scripts, s)
			}
		}
		d.next()
	}
	d.close()
}

func (b *BaseImage) decode(d *dec) {
	d.open()
	d.str("name", &b.Name)
	d.str("ova", &b.OVA)
	d.str("sha256", &b.SHA256)
	d.close()
}

func (c *RecipeCNI) decode(d *dec) {
	d.open()
	d.str("name", &c.Name)
	d.str("version", &c.Version)
	d.str("manifest", &c.Manifest)
	d.close()
}

func (s *RecipeScript) decode(d *dec) {
	d.open()
	d.str("name", &s.Name)
	d.str("run", &s.Run)
	d.close()
}

func (c *BuildTemplate) decode(d *dec) {
	d.open()
	if d.key("recipe") {
		c.Recipe.decode(d)
		d.next()
	}
	d.integer("revision", &c.Revision)
	d.close()
}

func (c *ImportTemplate) decode(d *dec) {
	d.open()
	if d.key("template") {
		c.Template.decode(d)
		d.next()
	}
	d.str("ova", &c.OVA)
	d.str("sha256", &c.SHA256)
	d.close()
}

func (c *DeprecateTemplate) decode(d *dec) {
	d.open()
	if d.key("template") {
		c.Template.decode(d)
		d.next()
	}
	d.boolean("deprecated", &c.Deprecated)
	d.close()
}

func (c *DeleteTemplate) decode(d *dec) {
	d.open()
	if d.key("template") {
		c.Template.decode(d)
		d.next()
	}
	d.close()
}

func (e *TemplateBuildStarted) decode(d *dec) {
	d.open()
	if d.key("recipe") {
		e.Recipe.decode(d)
		d.next()
	}
	d.integer("revision", &e.Revision)
	d.str("catalogItem", &e.CatalogItem)
	d.close()
}

func (e *BaseImageReady) decode(d *dec) {
	d.open()
	d.str("name", &e.Name)
	d.str("vappTemplateId", &e.VAppTemplateID)
	d.boolean("uploaded", &e.Uploaded)
	d.close()
}

func (e *BuildVAppCreated) decode(d *dec) {
	d.open()
	d.str("vappId", &e.VAppID)
	d.str("name", &e.Name)
	d.close()
}

func (e *BuildVMCreated) decode(d *dec) {
	d.open()
	d.str("name", &e.Name)
	d.str("vmId", &e.VMID)
	d.close()
}

func (e *TemplateBuildProgressed) decode(d *dec) {
	d.open()
	d.str("step", &e.Step)
	d.close()
}

func (e *TemplateCaptured) decode(d *dec) {
	d.open()
	d.str("catalogItemId", &e.CatalogItemID)
	d.str("vappTemplateId", &e.VAppTemplateID)
	d.close()
}

func (e *TemplateBuilt) decode(d *dec) {
	d.open()
	if d.key("template") {
		e.Template.decode(d)
		d.next()
	}
	d.close()
}

func (e *TemplateImportStarted) decode(d *dec) {
	d.open()
	if d.key("template") {
		e.Template.decode(d)
		d.next()
	}
	d.str("ova", &e.OVA)
	d.str("catalogItem", &e.CatalogItem)
	d.close()
}

func (e *TemplateImported) decode(d *dec) {
	d.open()
	if d.key("template") {
		e.Template.decode(d)
		d.next()
	}
	d.close()
}

func (e *TemplateDeprecated) decode(d *dec) {
	d.open()
	if d.key("template") {
		e.Template.decode(d)
		d.next()
	}
	d.boolean("deprecated", &e.Deprecated)
	d.close()
}

func (e *TemplateDeletionStarted) decode(d *dec) {
	d.open()
	if d.key("template") {
		e.Template.decode(d)
		d.next()
	}
	d.close()
}

func (e *TemplateDeleted) decode(d *dec) {
	d.open()
	if d.key("template") {
		e.Template.decode(d)
		d.next()
	}
	d.close()
}
