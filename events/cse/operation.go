package cse

import "time"

// Operation is kaas's addition to CSE's API: GET /api/cse/3.0/operations/{id} tells how an
// accepted change is going, step by step, and why it failed if it did.
type Operation struct {
	ID         string     `json:"id"`
	ClusterID  string     `json:"clusterId"`
	Operation  string     `json:"operation"` // the command: CreateCluster, ScaleWorkers, …
	Status     string     `json:"status"`    // PENDING, RUNNING, SUCCEEDED, FAILED, REJECTED, SUPERSEDED
	Phase      string     `json:"phase,omitempty"`
	Step       string     `json:"step,omitempty"`
	Percent    int        `json:"percent"`
	Target     string     `json:"target,omitempty"`
	RequestID  string     `json:"requestId,omitempty"`
	Actor      string     `json:"actor,omitempty"`
	Accepted   *time.Time `json:"accepted,omitempty"`
	Started    *time.Time `json:"started,omitempty"`
	Ended      *time.Time `json:"ended,omitempty"`
	Error      *KaasError `json:"error,omitempty"`
	Retrying   *KaasError `json:"retrying,omitempty"`
	ClusterURI string     `json:"clusterHref,omitempty"`
	// TaskHref is the operation's VCD task, once the mirror made it.
	TaskHref string `json:"taskHref,omitempty"`
}
