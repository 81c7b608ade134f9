// Command oracle answers mtls-guard's "what does Istio do here" questions with Istio's own Go code,
// for differential tests of the TypeScript engine. Test tooling only; the product does not use it.
//
// Protocol (see README.md for the full shapes): one JSON request per stdin line, one JSON answer
// per stdout line, in order, each answer carrying the request's "id". Ops: resolveHost, validate,
// clientTLS, peerAuthn, mesh (mesh.go). Nothing here re-implements Istio logic: every answer comes from an exported
// Istio function, and the glue only converts JSON in and enum names out.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	multierror "github.com/hashicorp/go-multierror"
	networking "istio.io/api/networking/v1alpha3"
	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/networking/util"
	"istio.io/istio/pilot/pkg/security/authn"
	"istio.io/istio/pilot/pkg/serviceregistry/memory"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/config/mesh/meshwatcher"
	"istio.io/istio/pkg/config/protocol"
	"istio.io/istio/pkg/config/schema/collections"
	"istio.io/istio/pkg/config/schema/gvk"
	"istio.io/istio/pkg/config/schema/resource"
	"istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/kube/krt"
	"istio.io/istio/pkg/log"
	"istio.io/istio/pkg/webhooks/validation/server"
)

const defaultDomain = "cluster.local"

type request struct {
	ID json.RawMessage `json:"id,omitempty"`
	Op string          `json:"op"`

	// resolveHost
	Host      string  `json:"host"`
	Namespace string  `json:"namespace"`
	Domain    *string `json:"domain"`

	// validate, clientTLS (object); clientTLS may give spec alone
	Object    json.RawMessage `json:"object"`
	Spec      json.RawMessage `json:"spec"`
	Operation string          `json:"operation"`

	// clientTLS
	Subsets *[]string `json:"subsets"`
	Ports   []uint32  `json:"ports"`

	// peerAuthn
	RootNamespace *string           `json:"rootNamespace"`
	Policies      []json.RawMessage `json:"policies"`
	Workload      struct {
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"workload"`
}

type answer map[string]any

func main() {
	// Istio's loggers and any stray print must never reach the protocol stream: keep a private copy
	// of fd 1 for answers and point fd 1 at stderr.
	outFd, err := syscall.Dup(1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "oracle: dup stdout:", err)
		os.Exit(2)
	}
	if err := syscall.Dup3(2, 1, 0); err != nil {
		fmt.Fprintln(os.Stderr, "oracle: redirect stdout:", err)
		os.Exit(2)
	}
	out := bufio.NewWriterSize(os.NewFile(uintptr(outFd), "answers"), 1<<16)

	lo := log.DefaultOptions()
	lo.OutputPaths = []string{"stderr"}
	lo.ErrorOutputPaths = []string{"stderr"}
	level := log.NoneLevel
	if os.Getenv("ORACLE_LOG") != "" {
		level = log.DebugLevel
	}
	lo.SetDefaultOutputLevel("all", level)
	lo.SetDefaultOutputLevel(log.DefaultScopeName, level)
	_ = log.Configure(lo)

	o := newOracle()
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for {
		line, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			a := o.handle(line)
			if encErr := enc.Encode(a); encErr != nil {
				_ = enc.Encode(answer{"id": a["id"], "ok": false, "stage": "request", "error": "encode answer: " + encErr.Error()})
			}
			// Flush when the caller has nothing more buffered for us, so a batch is answered in one
			// write but a lone request is never held back.
			if in.Buffered() == 0 {
				if err := out.Flush(); err != nil {
					os.Exit(1)
				}
			}
		}
		if err != nil {
			_ = out.Flush()
			if errors.Is(err, io.EOF) {
				return
			}
			fmt.Fprintln(os.Stderr, "oracle: read:", err)
			os.Exit(1)
		}
	}
}

type oracle struct {
	webhooks map[string]*http.ServeMux // by domain suffix
	store    *model.FakeStore

	// peerAuthn cache: the last policy set (root namespace + raw policies) and its push context.
	paKey     string
	paPush    *model.PushContext
	paError   answer
	paInfo    []answer
	paEnv     *model.Environment
	paWatcher meshwatcher.TestWatcher
}

func newOracle() *oracle {
	store := model.NewFakeStore()
	go store.Run(make(chan struct{}))
	kube.WaitForCacheSync("oracle", make(chan struct{}), store.HasSynced)
	return &oracle{webhooks: map[string]*http.ServeMux{}, store: store}
}

func (o *oracle) handle(line []byte) (a answer) {
	var req request
	defer func() {
		if r := recover(); r != nil {
			a = answer{"ok": false, "stage": "panic", "error": fmt.Sprint(r)}
			if os.Getenv("ORACLE_LOG") != "" {
				fmt.Fprintf(os.Stderr, "oracle: panic: %v\n%s\n", r, debug.Stack())
			}
		}
		if req.ID != nil {
			a["id"] = req.ID
		} else {
			a["id"] = nil
		}
	}()
	if err := json.Unmarshal(line, &req); err != nil {
		return answer{"ok": false, "stage": "request", "error": "bad request line: " + err.Error()}
	}
	switch req.Op {
	case "resolveHost":
		return o.resolveHost(&req)
	case "validate":
		return o.validate(&req)
	case "clientTLS":
		return o.clientTLS(&req)
	case "peerAuthn":
		return o.peerAuthn(&req)
	case "mesh":
		return o.mesh(line)
	default:
		return answer{"ok": false, "stage": "request", "error": fmt.Sprintf("unknown op %q", req.Op)}
	}
}

func domainOf(req *request) string {
	if req.Domain == nil {
		return defaultDomain
	}
	return *req.Domain
}

// (a) host resolution: model.ResolveShortnameToFQDN, what pilot applies to every DestinationRule
// host (pilot/pkg/model/destination_rule.go, push_context.go).
func (o *oracle) resolveHost(req *request) answer {
	h := model.ResolveShortnameToFQDN(req.Host, config.Meta{Namespace: req.Namespace, Domain: domainOf(req)})
	return answer{"ok": true, "host": string(h)}
}

// (b) validation: the real validating webhook handler (pkg/webhooks/validation/server, as istiod
// mounts it with collections.PilotGatewayAPI()) for the verdict and exact message, plus the same
// two steps it runs (crd.ConvertObject, then the schema's ValidateConfig) to split errors and
// warnings into lists.
func (o *oracle) validate(req *request) answer {
	if len(req.Object) == 0 {
		return answer{"ok": false, "stage": "request", "error": "validate needs object"}
	}
	domain := domainOf(req)
	mux := o.webhooks[domain]
	if mux == nil {
		mux = http.NewServeMux()
		if _, err := server.New(server.Options{Schemas: collections.PilotGatewayAPI(), DomainSuffix: domain, Mux: mux}); err != nil {
			return answer{"ok": false, "stage": "request", "error": err.Error()}
		}
		o.webhooks[domain] = mux
	}
	op := req.Operation
	if op == "" {
		op = "CREATE"
	}
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(req.Object, &meta)
	group, version, _ := strings.Cut(meta.APIVersion, "/")
	review := map[string]any{
		"apiVersion": "admission.k8s.io/v1",
		"kind":       "AdmissionReview",
		"request": map[string]any{
			"uid":       "00000000-0000-0000-0000-000000000000",
			"kind":      map[string]string{"group": group, "version": version, "kind": meta.Kind},
			"resource":  map[string]string{"group": group, "version": version, "resource": strings.ToLower(meta.Kind) + "s"},
			"name":      meta.Metadata.Name,
			"namespace": meta.Metadata.Namespace,
			"operation": op,
			"userInfo":  map[string]any{},
			"object":    req.Object,
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		return answer{"ok": false, "stage": "request", "error": err.Error()}
	}
	hr := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(body))
	hr.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, hr)
	var resp struct {
		Response struct {
			Allowed bool `json:"allowed"`
			Result  *struct {
				Message string `json:"message"`
			} `json:"status"`
			Warnings []string `json:"warnings"`
		} `json:"response"`
	}
	if rec.Code != http.StatusOK {
		return answer{"ok": false, "stage": "request", "error": fmt.Sprintf("webhook HTTP %d: %s", rec.Code, rec.Body.String())}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		return answer{"ok": false, "stage": "request", "error": "webhook answer: " + err.Error()}
	}
	a := answer{"ok": true, "allowed": resp.Response.Allowed, "message": nil, "warnings": nonNil(resp.Response.Warnings), "strictConvertError": nil}
	if resp.Response.Result != nil && resp.Response.Result.Message != "" {
		a["message"] = resp.Response.Result.Message
	}

	// The same steps, called directly, for error/warning lists and the failing stage.
	errs, warns, stage := []string{}, []string{}, any(nil)
	var obj crd.IstioKind
	if err := json.Unmarshal(req.Object, &obj); err != nil {
		stage, errs = "decode", []string{err.Error()}
	} else if s, ok := collections.PilotGatewayAPI().FindByGroupKind(resource.FromKubernetesGVK(ptr(obj.GroupVersionKind()))); !ok {
		stage, errs = "unknownType", []string{fmt.Sprintf("unrecognized type %v", obj.GroupVersionKind())}
	} else if cfg, err := crd.ConvertObject(s, &obj, domain); err != nil {
		stage, errs = "convert", []string{err.Error()}
	} else {
		// The webhook's conversion (config.ApplyJSON) tolerates unknown fields; istioctl validate
		// uses the strict one. Report it separately: unknown fields are the API server's business
		// (structural schema pruning / fieldValidation), not the Istio webhook's.
		if inst, ierr := s.NewInstance(); ierr == nil {
			if serr := config.ApplyJSONStrict(inst, string(obj.Spec)); serr != nil {
				a["strictConvertError"] = serr.Error()
			}
		}
		w, err := s.ValidateConfig(*cfg)
		warns = splitErr(w)
		if err != nil {
			stage, errs = "validate", splitErr(err)
		} else if !resp.Response.Allowed {
			stage = "fields" // the webhook's top-level field check (checkFields)
			if m, ok := a["message"].(string); ok {
				errs = []string{m}
			}
		}
	}
	a["stage"], a["errors"], a["validationWarnings"] = stage, errs, warns
	return a
}

func ptr[T any](v T) *T { return &v }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func splitErr(err error) []string {
	if err == nil {
		return []string{}
	}
	var me *multierror.Error
	if errors.As(err, &me) {
		out := []string{}
		for _, e := range me.Errors {
			out = append(out, splitErr(e)...)
		}
		return out
	}
	type unwrapper interface{ Unwrap() []error }
	if u, ok := err.(unwrapper); ok {
		out := []string{}
		for _, e := range u.Unwrap() {
			out = append(out, splitErr(e)...)
		}
		return out
	}
	return []string{err.Error()}
}

// convert turns a k8s-style object into Istio's config.Config with crd.ConvertObject (the function
// istiod's webhook uses). Missing apiVersion/kind default to the given schema's.
func convert(raw json.RawMessage, s resource.Schema, domain string) (*config.Config, error) {
	var obj crd.IstioKind
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("decode: %v", err)
	}
	if obj.APIVersion == "" {
		obj.APIVersion = s.APIVersion()
	}
	if obj.Kind == "" {
		obj.Kind = s.Kind()
	}
	if obj.Kind != s.Kind() {
		return nil, fmt.Errorf("expected kind %s, got %s", s.Kind(), obj.Kind)
	}
	return crd.ConvertObject(s, &obj, domain)
}

// (c) effective client TLS per subset x port: the same calls cluster_builder.go makes when it
// builds an outbound cluster: util.GetPortLevelTrafficPolicy for the service cluster, then
// util.MergeSubsetTrafficPolicy (which calls model.MergeTrafficPolicy) for a subset cluster. The
// TLS settings of the resulting policy are what applyTrafficPolicy hands to buildUpstreamTLSSettings
// (selectTrafficPolicyComponents, unexported, just returns policy.Tls).
func (o *oracle) clientTLS(req *request) answer {
	raw := req.Object
	if len(raw) == 0 {
		if len(req.Spec) == 0 {
			return answer{"ok": false, "stage": "request", "error": "clientTLS needs object or spec"}
		}
		raw, _ = json.Marshal(map[string]any{"metadata": map[string]string{"name": "oracle", "namespace": "default"}, "spec": req.Spec})
	}
	cfg, err := convert(raw, collections.DestinationRule, domainOf(req))
	if err != nil {
		return answer{"ok": false, "stage": "convert", "error": err.Error()}
	}
	dr := cfg.Spec.(*networking.DestinationRule)
	subsets := []string{""}
	if req.Subsets != nil {
		subsets = *req.Subsets
	} else {
		for _, s := range dr.Subsets {
			subsets = append(subsets, s.GetName())
		}
	}
	results := []answer{}
	for _, name := range subsets {
		var subset *networking.Subset
		if name != "" {
			for _, s := range dr.Subsets {
				if s.GetName() == name {
					subset = s
					break
				}
			}
		}
		for _, p := range req.Ports {
			port := &model.Port{Name: "p" + strconv.Itoa(int(p)), Port: int(p), Protocol: protocol.HTTP}
			// cluster_builder.go buildCluster opts: DR-level policy for this port.
			policy, portLevel := util.GetPortLevelTrafficPolicy(dr.GetTrafficPolicy(), port)
			subsetPortLevel := false
			if subset != nil {
				// buildSubsetCluster: opts.policy = util.MergeSubsetTrafficPolicy(opts.policy, subset.TrafficPolicy, opts.port)
				_, subsetPortLevel = util.GetPortLevelTrafficPolicy(subset.GetTrafficPolicy(), port)
				policy = util.MergeSubsetTrafficPolicy(policy, subset.GetTrafficPolicy(), port)
			}
			tls := policy.GetTls()
			r := answer{
				"subset": name, "port": p, "subsetDefined": name == "" || subset != nil,
				"portLevel": portLevel, "subsetPortLevel": subsetPortLevel,
				"mode": nil, "insecureSkipVerify": false, "tls": nil,
			}
			if tls != nil {
				r["mode"] = tls.GetMode().String()
				r["insecureSkipVerify"] = tls.GetInsecureSkipVerify().GetValue()
				if b, err := config.ToJSON(tls); err == nil {
					r["tls"] = json.RawMessage(b)
				}
			}
			results = append(results, r)
		}
	}
	return answer{"ok": true, "host": string(model.ResolveShortnameToFQDN(dr.GetHost(), cfg.Meta)), "results": results}
}

// (d) effective PeerAuthentication mode per workload port: the policies go into an in-memory
// config store, a PushContext is initialised from it (InitContext builds AuthnPolicies with
// Istio's own per-namespace bookkeeping), and authn.NewMtlsPolicy (GetPeerAuthenticationsForWorkload
// + ComposePeerAuthentication) answers GetMutualTLSModeForPort.
func (o *oracle) peerAuthn(req *request) answer {
	root := "istio-system"
	if req.RootNamespace != nil {
		root = *req.RootNamespace
	}
	keyB, _ := json.Marshal([]any{root, req.Policies})
	key := string(keyB)
	if key != o.paKey || o.paPush == nil && o.paError == nil {
		o.paKey = key
		o.paPush, o.paError, o.paInfo = o.buildPeerAuthnPush(root, req.Policies)
	}
	if o.paError != nil {
		return o.paError
	}
	push := o.paPush
	labels := req.Workload.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	matcher := model.PolicyMatcherFor(req.Workload.Namespace, labels, false)
	matched := push.AuthnPolicies.GetPeerAuthenticationsForWorkload(matcher)
	matchedNames := []string{}
	for _, c := range matched {
		matchedNames = append(matchedNames, c.Namespace+"/"+c.Name)
	}
	composed := authn.ComposePeerAuthentication(push.AuthnPolicies.GetRootNamespace(), matched)
	perPort := map[string]string{}
	for p, m := range composed.PerPort {
		perPort[strconv.Itoa(int(p))] = m.String()
	}
	policy := authn.NewMtlsPolicy(push, push.AuthnPolicies, req.Workload.Namespace, labels, false)
	ports := []answer{}
	for _, p := range req.Ports {
		ports = append(ports, answer{"port": p, "mode": policy.GetMutualTLSModeForPort(p).String()})
	}
	return answer{
		"ok": true, "mode": composed.Mode.String(), "perPort": perPort, "ports": ports,
		"matched":       matchedNames,
		"namespaceMode": push.AuthnPolicies.GetNamespaceMutualTLSMode(req.Workload.Namespace).String(),
		"policies":      o.paInfo,
	}
}

func (o *oracle) buildPeerAuthnPush(root string, raws []json.RawMessage) (*model.PushContext, answer, []answer) {
	// Empty the shared store (a FakeStore is krt-backed; reusing one avoids leaking its goroutines).
	for _, c := range o.store.List(gvk.PeerAuthentication, model.NamespaceAll) {
		_ = o.store.Delete(gvk.PeerAuthentication, c.Name, c.Namespace, nil)
	}
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	info := []answer{}
	for i, raw := range raws {
		cfg, err := convert(raw, collections.PeerAuthentication, defaultDomain)
		if err != nil {
			return nil, answer{"ok": false, "stage": "convert", "policy": i, "error": err.Error()}, nil
		}
		if cfg.Namespace == "" {
			return nil, answer{"ok": false, "stage": "request", "policy": i, "error": "policy needs metadata.namespace"}, nil
		}
		if cfg.Name == "" {
			cfg.Name = "pa-" + strconv.Itoa(i)
		}
		if cfg.CreationTimestamp.IsZero() {
			// Istio picks the oldest of competing policies; without timestamps, list order is age order.
			cfg.CreationTimestamp = base.Add(time.Duration(i) * time.Second)
		}
		cfg.UID = fmt.Sprintf("uid-%d", i)
		cfg.ResourceVersion = "1"
		_, verr := collections.PeerAuthentication.ValidateConfig(*cfg)
		v := answer{"name": cfg.Namespace + "/" + cfg.Name, "valid": verr == nil, "errors": splitErr(verr)}
		info = append(info, v)
		if _, err := o.store.Create(*cfg); err != nil {
			return nil, answer{"ok": false, "stage": "request", "policy": i, "error": err.Error()}, nil
		}
	}
	// The services are the mesh op's business; the peerAuthn op needs none.
	return o.newPush(root, memory.NewServiceDiscovery()), nil, info
}

// newPush initialises a PushContext from the shared config store and the given service registry,
// with root as the mesh root namespace.
func (o *oracle) newPush(root string, services *memory.ServiceDiscovery) *model.PushContext {
	if o.paEnv == nil {
		// One environment for the process (its krt collections run goroutines): Istio's own test
		// setup (push_context_test.go) with the fake store, a mesh watcher and the VirtualService
		// controller InitContext needs.
		stop := make(chan struct{})
		env := model.NewEnvironment()
		env.ConfigStore = o.store
		env.ServiceDiscovery = memory.NewServiceDiscovery()
		o.paWatcher = meshwatcher.NewTestWatcher(mesh.DefaultMeshConfig())
		env.Watcher = o.paWatcher
		env.VirtualServiceController = model.NewVirtualServiceController(o.store,
			model.VSControllerOptions{KrtDebugger: krt.GlobalDebugHandler}, env.Watcher)
		go env.VirtualServiceController.Run(stop)
		kube.WaitForCacheSync("oracle", stop, o.store.HasSynced)
		kube.WaitForCacheSync("oracle", stop, env.VirtualServiceController.HasSynced)
		env.Init()
		o.paEnv = env
	}
	o.paEnv.ServiceDiscovery = services
	m := mesh.DefaultMeshConfig()
	m.RootNamespace = root
	o.paWatcher.Set(m)
	push := model.NewPushContext()
	push.InitContext(o.paEnv, nil, nil)
	return push
}
