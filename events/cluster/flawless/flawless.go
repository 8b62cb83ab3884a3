// Package flawless plays a flawless executor: for each step the cluster aggregate plans,
// the events an executor records when every VCD call succeeds at once. Tests build
// histories with it (through clustertest and projectortest), and kaas-bench writes the
// million-event history it replays with it, so it is no test support: it never imports
// package testing.
package flawless

import (
	"fmt"
	"strings"

	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cluster"
)

// Outcome returns the events a flawless executor records for the step planned on st.
func Outcome(st *cluster.State, step cluster.Step) []events.Payload {
	switch step.Kind {
	case cluster.StepResolveTemplate:
		v := "v1.29.3"
		if strings.Contains(step.Template.Name, "1.30") {
			v = "v1.30.1"
		}
		return []events.Payload{events.TemplateResolved{Template: events.Template{Name: step.Template.Name, Revision: step.Template.Revision,
			KubernetesVersion: v, OS: "ubuntu-22.04", CNI: events.Component{Name: "antrea", Version: "1.14"}}}}
	case cluster.StepCreateVApp:
		return []events.Payload{events.VAppCreated{VAppID: "urn:vcloud:vapp:" + st.ID, Name: st.Spec.Name}}
	case cluster.StepCreateNode:
		return []events.Payload{events.NodeCreated{Name: step.New.Name, Role: step.New.Role, Ordinal: step.New.Ordinal, VMID: "urn:vcloud:vm:" + step.New.Name}}
	case cluster.StepStartNode:
		return []events.Payload{events.NodeStarted{Name: step.Node.Name}}
	case cluster.StepProvisionNodes:
		var out []events.Payload
		for _, n := range step.Nodes {
			out = append(out, events.NodeStarted{Name: n.Name})
		}
		for _, n := range step.News {
			out = append(out, events.NodeCreated{Name: n.Name, Role: n.Role, Ordinal: n.Ordinal, VMID: "urn:vcloud:vm:" + n.Name})
		}
		return out
	case cluster.StepAwaitControlPlane:
		return []events.Payload{events.ControlPlaneInitialized{Node: step.Node.Name, IP: "10.0.0.10", Endpoint: "https://10.0.0.10:6443",
			KubeconfigRef: "kubeconfig/" + st.ID, JoinCommandRef: "join/" + st.ID}}
	case cluster.StepAwaitNodes:
		var out []events.Payload
		for j, n := range step.Nodes {
			if n.Role == events.RoleNFS {
				out = append(out, events.NodeReady{Name: n.Name, IP: fmt.Sprintf("10.0.1.%d", j)})
			} else {
				out = append(out, events.NodeJoined{Name: n.Name, IP: fmt.Sprintf("10.0.0.%d", 11+j)})
			}
		}
		return out
	case cluster.StepRequestUpgrade:
		return []events.Payload{events.NodeUpgradeRequested{Name: step.Node.Name, KubernetesVersion: step.Version}}
	case cluster.StepAwaitUpgrade:
		return []events.Payload{events.NodeUpgraded{Name: step.Node.Name, KubernetesVersion: step.Version}}
	case cluster.StepDeleteNode:
		return []events.Payload{events.NodeDeleted{Name: step.Node.Name}}
	case cluster.StepDeleteVApp:
		return []events.Payload{events.VAppDeleted{VAppID: st.VAppID}}
	case cluster.StepRecord:
		return []events.Payload{step.Event}
	case cluster.StepFail:
		return []events.Payload{events.OperationFailed{Failure: step.Failure}}
	}
	return nil
}
