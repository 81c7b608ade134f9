// The mesh op: Istio's answers about a whole small mesh (namespaces, Services, workloads,
// PeerAuthentications, DestinationRules), for the differential test of mtls-guard's mesh model.
//
// Istio code answering (all exported; see README.md "mesh"):
//   - the PushContext: the configs go into the shared FakeStore, the Services into a
//     memory.ServiceDiscovery, and PushContext.InitContext builds Istio's indexes (service index,
//     DestinationRule index with exportTo / root namespace / merging, AuthnPolicies);
//   - the DestinationRule a client picks: a SidecarProxy in the client namespace with the client's
//     labels gets its SidecarScope (Proxy.SetSidecarScope, the default scope when no Sidecar
//     exists), and SidecarScope.DestinationRule(TrafficDirectionOutbound, proxy, host) answers, as
//     cluster.go does when it builds outbound clusters; GetFrom() names the merged rules;
//   - the client TLS per subset x port: GetPortLevelTrafficPolicy + MergeSubsetTrafficPolicy on the
//     picked (merged) rule, as the clientTLS op and cluster_builder.go;
//   - the server mode per workload x container port: authn.NewMtlsPolicy(...).GetMutualTLSModeForPort.
//
// Kubernetes' share, done here because Istio does not do it: a Service's endpoints are the
// workloads in its namespace whose labels include its (non-empty) selector, and the endpoint port
// is the targetPort (a number, the container port of that name, or the port itself when absent);
// a subset's endpoints are those whose labels include the subset's labels
// (labels.Instance.SubsetOf, Istio's own test).
package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	networking "istio.io/api/networking/v1alpha3"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/networking/util"
	"istio.io/istio/pilot/pkg/security/authn"
	"istio.io/istio/pilot/pkg/serviceregistry/memory"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/host"
	"istio.io/istio/pkg/config/labels"
	"istio.io/istio/pkg/config/protocol"
	"istio.io/istio/pkg/config/schema/collections"
	"istio.io/istio/pkg/config/schema/gvk"
	"istio.io/istio/pkg/config/schema/resource"
)

type meshPort struct {
	Name       string          `json:"name"`
	Port       int             `json:"port"`
	TargetPort json.RawMessage `json:"targetPort"`
}

type meshService struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Selector  map[string]string `json:"selector"`
	Ports     []meshPort        `json:"ports"`
}

type meshContainerPort struct {
	Name          string `json:"name"`
	ContainerPort int    `json:"containerPort"`
}

type meshWorkload struct {
	Name      string              `json:"name"`
	Namespace string              `json:"namespace"`
	Labels    map[string]string   `json:"labels"`
	Ports     []meshContainerPort `json:"ports"`
	Sidecar   bool                `json:"sidecar"`
}

type meshQuery struct {
	ClientNamespace string            `json:"clientNamespace"`
	ClientLabels    map[string]string `json:"clientLabels"`
	Host            string            `json:"host"`
	Port            int               `json:"port"`
	Subset          string            `json:"subset"`
}

type meshRequest struct {
	RootNamespace *string           `json:"rootNamespace"`
	Domain        *string           `json:"domain"`
	Services      []meshService     `json:"services"`
	Workloads     []meshWorkload    `json:"workloads"`
	Configs       []json.RawMessage `json:"configs"`
	Queries       []meshQuery       `json:"queries"`
}

func (o *oracle) mesh(line []byte) answer {
	var req meshRequest
	if err := json.Unmarshal(line, &req); err != nil {
		return answer{"ok": false, "stage": "request", "error": "bad mesh request: " + err.Error()}
	}
	root := "istio-system"
	if req.RootNamespace != nil {
		root = *req.RootNamespace
	}
	domain := defaultDomain
	if req.Domain != nil {
		domain = *req.Domain
	}
	// The shared store now holds this mesh's configs: the peerAuthn op's cache is stale.
	o.paKey, o.paPush, o.paError = "", nil, nil

	for _, k := range []config.GroupVersionKind{gvk.PeerAuthentication, gvk.DestinationRule} {
		for _, c := range o.store.List(k, model.NamespaceAll) {
			_ = o.store.Delete(k, c.Name, c.Namespace, nil)
		}
	}
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	info := []answer{}
	for i, raw := range req.Configs {
		var head struct {
			Kind string `json:"kind"`
		}
		_ = json.Unmarshal(raw, &head)
		var s resource.Schema
		switch head.Kind {
		case "PeerAuthentication":
			s = collections.PeerAuthentication
		case "DestinationRule":
			s = collections.DestinationRule
		default:
			return answer{"ok": false, "stage": "request", "config": i, "error": fmt.Sprintf("configs[%d]: kind %q (PeerAuthentication or DestinationRule)", i, head.Kind)}
		}
		cfg, err := convert(raw, s, domain)
		if err != nil {
			return answer{"ok": false, "stage": "convert", "config": i, "error": err.Error()}
		}
		if cfg.Namespace == "" || cfg.Name == "" {
			return answer{"ok": false, "stage": "request", "config": i, "error": "configs need metadata.name and metadata.namespace"}
		}
		if cfg.CreationTimestamp.IsZero() {
			cfg.CreationTimestamp = base.Add(time.Duration(i) * time.Second)
		}
		cfg.UID = fmt.Sprintf("uid-%d", i)
		cfg.ResourceVersion = "1"
		_, verr := s.ValidateConfig(*cfg)
		info = append(info, answer{"kind": head.Kind, "name": cfg.Namespace + "/" + cfg.Name, "valid": verr == nil, "errors": splitErr(verr)})
		if _, err := o.store.Create(*cfg); err != nil {
			return answer{"ok": false, "stage": "request", "config": i, "error": err.Error()}
		}
	}

	sd := memory.NewServiceDiscovery()
	byHost := map[host.Name]*meshService{}
	for i := range req.Services {
		svc := &req.Services[i]
		h := host.Name(svc.Name + "." + svc.Namespace + ".svc." + domain)
		ports := model.PortList{}
		for _, p := range svc.Ports {
			name := p.Name
			if name == "" {
				name = "port-" + strconv.Itoa(p.Port)
			}
			ports = append(ports, &model.Port{Name: name, Port: p.Port, Protocol: protocol.HTTP})
		}
		sd.AddService(&model.Service{
			Hostname:     h,
			Ports:        ports,
			Resolution:   model.ClientSideLB,
			CreationTime: base.Add(time.Duration(i) * time.Second),
			Attributes:   model.ServiceAttributes{Name: svc.Name, Namespace: svc.Namespace},
		})
		byHost[h] = svc
	}
	push := o.newPush(root, sd)

	modeOf := func(w *meshWorkload, port int) string {
		return authn.NewMtlsPolicy(push, push.AuthnPolicies, w.Namespace, labels.Instance(nonNilMap(w.Labels)), false).
			GetMutualTLSModeForPort(uint32(port)).String()
	}
	// Server side: every workload x port it serves (its container ports and the targetPorts of the
	// Services selecting it), in that order, each once.
	serverPorts := []answer{}
	for i := range req.Workloads {
		w := &req.Workloads[i]
		seen := map[int]bool{}
		add := func(port int) {
			if !seen[port] {
				seen[port] = true
				serverPorts = append(serverPorts, answer{"workload": w.Namespace + "/" + w.Name, "port": port, "sidecar": w.Sidecar, "mode": modeOf(w, port)})
			}
		}
		for _, p := range w.Ports {
			add(p.ContainerPort)
		}
		for j := range req.Services {
			svc := &req.Services[j]
			if w.Namespace != svc.Namespace || len(svc.Selector) == 0 || !labels.Instance(svc.Selector).SubsetOf(w.Labels) {
				continue
			}
			for k := range svc.Ports {
				if t, ok := targetPort(&svc.Ports[k], w); ok {
					add(t)
				}
			}
		}
	}

	queries := []answer{}
	for _, q := range req.Queries {
		proxy := &model.Proxy{
			Type:            model.SidecarProxy,
			ConfigNamespace: q.ClientNamespace,
			Labels:          nonNilMap(q.ClientLabels),
			Metadata:        &model.NodeMetadata{Namespace: q.ClientNamespace, Labels: nonNilMap(q.ClientLabels)},
		}
		proxy.SetSidecarScope(push)
		h := host.Name(q.Host)
		r := answer{"visible": proxy.SidecarScope.GetService(h) != nil, "destinationRules": []string{}, "drHost": nil,
			"subsetDefined": q.Subset == "", "clientTls": nil, "endpoints": []answer{}}
		cdr := proxy.SidecarScope.DestinationRule(model.TrafficDirectionOutbound, proxy, h)
		var dr *networking.DestinationRule
		if rule := cdr.GetRule(); rule != nil {
			dr = rule.Spec.(*networking.DestinationRule)
			r["drHost"] = dr.GetHost()
			names := []string{}
			for _, n := range cdr.GetFrom() {
				names = append(names, n.Namespace+"/"+n.Name)
			}
			r["destinationRules"] = names
		}
		var subset *networking.Subset
		if q.Subset != "" && dr != nil {
			for _, ss := range dr.GetSubsets() {
				if ss.GetName() == q.Subset {
					subset = ss
					break
				}
			}
			r["subsetDefined"] = subset != nil
		}
		port := &model.Port{Name: "port-" + strconv.Itoa(q.Port), Port: q.Port, Protocol: protocol.HTTP}
		if dr != nil {
			// cluster_builder.go: the DR-level policy for the service port, then the subset's merged in.
			policy, _ := util.GetPortLevelTrafficPolicy(dr.GetTrafficPolicy(), port)
			if subset != nil {
				policy = util.MergeSubsetTrafficPolicy(policy, subset.GetTrafficPolicy(), port)
			}
			if tls := policy.GetTls(); tls != nil {
				r["clientTls"] = tls.GetMode().String()
			}
		}
		// Endpoints (Kubernetes' share: selector, targetPort; Istio's: subset labels).
		if svc := byHost[h]; svc != nil && len(svc.Selector) > 0 {
			var sp *meshPort
			for i := range svc.Ports {
				if svc.Ports[i].Port == q.Port {
					sp = &svc.Ports[i]
				}
			}
			for i := range req.Workloads {
				w := &req.Workloads[i]
				if sp == nil || w.Namespace != svc.Namespace || !labels.Instance(svc.Selector).SubsetOf(w.Labels) {
					continue
				}
				if subset != nil && !labels.Instance(subset.GetLabels()).SubsetOf(w.Labels) {
					continue
				}
				target, ok := targetPort(sp, w)
				if !ok {
					continue
				}
				r["endpoints"] = append(r["endpoints"].([]answer), answer{"workload": w.Namespace + "/" + w.Name, "port": target, "sidecar": w.Sidecar, "mode": modeOf(w, target)})
			}
		}
		queries = append(queries, r)
	}
	return answer{"ok": true, "serverPorts": serverPorts, "queries": queries, "configs": info}
}

// targetPort resolves a Service port's targetPort against a workload's container ports as the
// Kubernetes endpoints controller does: absent = the port, a number = itself, a name = the
// container port of that name (no endpoint when there is none).
func targetPort(sp *meshPort, w *meshWorkload) (int, bool) {
	if len(sp.TargetPort) == 0 || string(sp.TargetPort) == "null" {
		return sp.Port, true
	}
	var n int
	if err := json.Unmarshal(sp.TargetPort, &n); err == nil {
		return n, true
	}
	var name string
	if err := json.Unmarshal(sp.TargetPort, &name); err == nil {
		for _, p := range w.Ports {
			if p.Name == name {
				return p.ContainerPort, true
			}
		}
	}
	return 0, false
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
