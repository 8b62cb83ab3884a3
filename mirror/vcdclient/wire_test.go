package vcdclient

import (
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/kaasproject/kaas/mirror"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestTaskDocument: the Task documents kaas posts and puts, as pyvcloud's Task.update sends
// them (cse-rde.md §1.6), plus Progress and kaas's reason.
func TestTaskDocument(t *testing.T) {
	const base = "https://vcd.example.com"
	tests := []struct {
		name string
		task mirror.Task
	}{
		{"running", mirror.Task{Status: mirror.TaskRunning, ServiceNamespace: "vcloud.cse", OperationName: "cluster operation",
			Operation: "Creating cluster 'web' (kaas operation 0d6f3c1e-2b1f-5a8e-9c44-1f0e7a2b3c4d)", Progress: 40, Details: "NodeStarted",
			Owner: mirror.Ref{ID: "urn:vcloud:org:44b7e5ce-534a-5de7-b715-a9fa779b42ac", Name: "acme"},
			User:  mirror.Ref{ID: "urn:vcloud:user:9b38a1c2-0000-4000-8000-00000000000a", Name: "alice"}}},
		{"error", mirror.Task{Status: mirror.TaskFailed, ServiceNamespace: "vcloud.cse", OperationName: "OVDC Update",
			Operation: "Updating the Kubernetes runtimes of org VDC 'acme-vdc' (kaas operation 5e0c2f7a-8d3b-5c1e-a2f4-7b9c0d1e2f3a)",
			Owner:     mirror.Ref{ID: "urn:vcloud:vdc:031d2738-0000-4000-8000-000000000001", Name: "acme-vdc"},
			User:      mirror.Ref{ID: "urn:vcloud:user:e0000000-0000-4000-8000-00000000000e"},
			Error:     &mirror.TaskError{MajorErrorCode: 400, MinorErrorCode: "VDC_NOT_FOUND", Message: "org VDC acme-vdc is gone"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := xml.MarshalIndent(taskDoc(base, tt.task), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "task_"+tt.name+".golden.xml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("task document changed:\n%s\nwant:\n%s", got, want)
			}
			// What VCD stores and answers is read back as sent.
			var d taskXML
			if err := xml.Unmarshal(got, &d); err != nil {
				t.Fatal(err)
			}
			back := fromTaskXML(d)
			back.ID, back.Href = "", ""
			if back.Status != tt.task.Status || back.Operation != tt.task.Operation || back.Progress != tt.task.Progress ||
				back.Owner.ID != tt.task.Owner.ID || back.User.ID != tt.task.User.ID || (tt.task.Error != nil && *back.Error != *tt.task.Error) {
				t.Fatalf("read back %+v", back)
			}
		})
	}
}

// TestReadsVCDsTask: a task as VCD answers it (cse-rde.md §3.6): its id, and the entity a
// create's task names as its owner.
func TestReadsVCDsTask(t *testing.T) {
	const doc = `<Task xmlns="http://www.vmware.com/vcloud/v1.5" href="https://H/api/task/8a81f501-31d9-5b3b-9a0d-e3180c66c1e6" id="urn:vcloud:task:8a81f501-31d9-5b3b-9a0d-e3180c66c1e6" name="task"
      type="application/vnd.vmware.vcloud.task+xml" status="running" serviceNamespace="vcloud.cse"
      operationName="cluster operation" operation="Creating cluster 'gc-1'" startTime="2026-12-02T05:03:27Z">
  <Owner href="https://H/cloudapi/1.0.0/entities/urn:vcloud:entity:cse:nativeCluster:e2d7c0de-0000-4000-8000-000000000001" name="gc-1"/>
  <User href="https://H/api/admin/user/9b38a1c2-0000-4000-8000-00000000000a" name="alice" type="application/vnd.vmware.admin.user+xml"/>
  <Organization href="https://H/api/org/44b7e5ce-534a-5de7-b715-a9fa779b42ac" name="acme" type="application/vnd.vmware.vcloud.org+xml"/>
  <Progress>40</Progress>
</Task>`
	var d taskXML
	if err := xml.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatal(err)
	}
	got := fromTaskXML(d)
	want := mirror.Task{ID: "urn:vcloud:task:8a81f501-31d9-5b3b-9a0d-e3180c66c1e6", Href: "https://H/api/task/8a81f501-31d9-5b3b-9a0d-e3180c66c1e6",
		Status: "running", Operation: "Creating cluster 'gc-1'", OperationName: "cluster operation", ServiceNamespace: "vcloud.cse", Progress: 40,
		Owner: mirror.Ref{ID: "urn:vcloud:entity:cse:nativeCluster:e2d7c0de-0000-4000-8000-000000000001", Name: "gc-1"},
		User:  mirror.Ref{ID: "urn:vcloud:user:9b38a1c2-0000-4000-8000-00000000000a", Name: "alice"}}
	if got.Error != nil || got.ID != want.ID || got.Href != want.Href || got.Status != want.Status || got.Operation != want.Operation ||
		got.Progress != want.Progress || got.Owner != want.Owner || got.User != want.User {
		t.Fatalf("read %+v\nwant %+v", got, want)
	}
}

// TestErrorBody: VCD's errors, JSON from cloudapi and XML from the API, give their code and
// message; anything else its text.
func TestErrorBody(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		json      bool
		code, msg string
	}{
		{"cloudapi", `{"minorErrorCode":"RESOURCE_NOT_FOUND","message":"[ 1 ] entity not found","stackTrace":null}`, true, "RESOURCE_NOT_FOUND", "[ 1 ] entity not found"},
		{"xml", `<Error xmlns="http://www.vmware.com/vcloud/v1.5" majorErrorCode="400" minorErrorCode="BAD_REQUEST" message="task is finished"/>`, false, "BAD_REQUEST", "task is finished"},
		{"text", `upstream connect error`, true, "", "upstream connect error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, msg := errorBody([]byte(tt.body), tt.json); code != tt.code || msg != tt.msg {
				t.Fatalf("%q %q", code, msg)
			}
		})
	}
}
