// Command cert-manager-e2e runs the real cert-manager controllers and the real cainjector, built
// from the root module github.com/cert-manager/cert-manager (pinned in go.mod), against the
// kubeconfig of the end-to-end control plane. It is a test tool of mtls-guard's node suite
// (test/e2e-node/02-cert-manager.e2e.ts), never part of the product.
//
// Why our own main: upstream's commands live in the nested modules
// github.com/cert-manager/cert-manager/controller-binary and .../cainjector-binary, which the Go
// module proxy of this machine does not serve (404); the root module, which holds every
// controller and the cainjector reconcilers, is served. This file does what upstream's
// cmd/controller/app.Run and cmd/cainjector/app.Run do for the parts our test exercises:
//
//	cert-manager-e2e controller --kubeconfig FILE   issuers, certificates, certificate requests
//	cert-manager-e2e cainjector --kubeconfig FILE   caBundle injection (controller-runtime)
//	cert-manager-e2e all        --kubeconfig FILE   both in one process
//
// What upstream does that we skip, and why it does not matter for the test:
//   - Leader election: one instance runs; upstream with leader election off runs the same code.
//   - The metrics, healthz and profiling servers (and their TLS): nobody scrapes them here;
//     the certificates-metrics controller only feeds that server, so it is not started.
//   - Config files, flag validation and feature-gate flags: the values below are upstream's
//     defaults (internal/apis/config/controller/v1alpha1/defaults.go and cainjector's), written
//     out because that defaults package is internal to the module.
//   - The ACME, Vault and Venafi issuers, ingress-/gateway-shim and the CertificateSigningRequest
//     controllers: the chart uses only SelfSigned and CA issuers (or a user's issuerRef, which
//     the test does not use). The ACME HTTP-01 solver options are therefore left empty.
//   - Upstream's "kube-system" cluster resource namespace is kept (ClusterIssuer secrets).
//
// Logs go to stderr through klog (-v=N raises the level). SIGINT/SIGTERM stop the process, and
// so does the end of its parent process (PR_SET_PDEATHSIG).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	apiext "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	kscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	apireg "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cmscheme "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned/scheme"
	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"

	// Each controller package registers itself in controllerpkg.Known() from its init.
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	// The issuer kinds the issuers/clusterissuers controllers can set up (Ready condition).
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

// controllers are the cert-manager controllers started by `controller`: every one upstream
// enables by default that serves SelfSigned and CA issuers (see the file comment).
var controllers = []string{
	"issuers",
	"clusterissuers",
	"certificaterequests-approver",
	"certificaterequests-issuer-ca",
	"certificaterequests-issuer-selfsigned",
	"certificates-trigger",
	"certificates-issuing",
	"certificates-key-manager",
	"certificates-request-manager",
	"certificates-readiness",
	"certificates-revision-manager",
}

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "controller" && os.Args[1] != "cainjector" && os.Args[1] != "all") {
		fmt.Fprintln(os.Stderr, "usage: cert-manager-e2e controller|cainjector|all --kubeconfig FILE [-v N]")
		os.Exit(2)
	}
	mode := os.Args[1]
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the cluster (required; no in-cluster config)")
	klog.InitFlags(fs)
	_ = fs.Parse(os.Args[2:])
	if *kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "cert-manager-e2e: --kubeconfig is required")
		os.Exit(2)
	}

	// Test tool: never outlive the process that started it (a test runner killed before its
	// after() hook must not leave cert-manager running against the next cluster). Linux only.
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0); errno != 0 {
		fmt.Fprintf(os.Stderr, "cert-manager-e2e: prctl(PR_SET_PDEATHSIG): %v\n", errno)
		os.Exit(1)
	}
	if os.Getppid() == 1 {
		fmt.Fprintln(os.Stderr, "cert-manager-e2e: parent already gone")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := klog.NewKlogr().WithName("cert-manager-e2e")
	ctrl.SetLogger(log)
	ctx = logf.NewContext(ctx, log)

	g, gctx := errgroup.WithContext(ctx)
	if mode == "controller" || mode == "all" {
		g.Go(func() error { return runController(gctx, *kubeconfig) })
	}
	if mode == "cainjector" || mode == "all" {
		g.Go(func() error { return runCAInjector(gctx, *kubeconfig) })
	}
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		log.Error(err, "stopped")
		os.Exit(1)
	}
}

// runController mirrors upstream cmd/controller/app.Run with leader election off: one context
// factory, each controller built from its registered constructor, then the shared informer
// factories started, then every controller's Run until ctx ends.
func runController(ctx context.Context, kubeconfig string) error {
	opts := controllerpkg.ContextOptions{
		Kubeconfig:         kubeconfig,
		KubernetesAPIQPS:   20, // upstream defaults
		KubernetesAPIBurst: 50,
		IssuerOptions: controllerpkg.IssuerOptions{
			ClusterResourceNamespace: "kube-system",
		},
		CertificateOptions: controllerpkg.CertificateOptions{
			CopiedAnnotationPrefixes:                 []string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"},
			CertificateRequestMinimumBackoffDuration: time.Hour,
			CertificateRequestMaximumBackoffDuration: 32 * time.Hour,
		},
	}
	factory, err := controllerpkg.NewContextFactory(ctx, opts)
	if err != nil {
		return fmt.Errorf("controller: context factory: %w", err)
	}
	shared, err := factory.Build()
	if err != nil {
		return fmt.Errorf("controller: context: %w", err)
	}

	known := controllerpkg.Known()
	g, gctx := errgroup.WithContext(ctx)
	for _, name := range controllers {
		construct, ok := known[name]
		if !ok {
			return fmt.Errorf("controller %q is not registered (known: %v)", name, sortedKeys(known))
		}
		iface, err := construct(factory)
		if err != nil {
			return fmt.Errorf("controller %q: %w", name, err)
		}
		g.Go(func() error {
			klog.InfoS("starting controller", "controller", name)
			return iface.Run(5, gctx) // upstream default: 5 workers
		})
	}
	// Controllers register their informers while being built; start them only now.
	shared.SharedInformerFactory.Start(gctx.Done())
	shared.KubeSharedInformerFactory.Start(gctx.Done())
	shared.HTTP01ResourceMetadataInformersFactory.Start(gctx.Done())
	return g.Wait()
}

// runCAInjector mirrors upstream cmd/cainjector/app.Run with leader election and the metrics
// and health servers off: a controller-runtime manager with the injectors for all four kinds
// (the upstream default), Certificates as a data source (inject-ca-from) enabled.
func runCAInjector(ctx context.Context, kubeconfig string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("cainjector: kubeconfig: %w", err)
	}
	// As upstream: the user agent "cert-manager-cainjector/..." also names the field manager of
	// the server-side apply that writes caBundle (an empty one is refused by the API server).
	cfg = util.RestConfigWithUserAgent(cfg, "cainjector")
	scheme := runtime.NewScheme()
	utilruntime.Must(kscheme.AddToScheme(scheme))
	utilruntime.Must(cmscheme.AddToScheme(scheme))
	utilruntime.Must(apiext.AddToScheme(scheme))
	utilruntime.Must(apireg.AddToScheme(scheme))

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		LeaderElection:         false,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return fmt.Errorf("cainjector: manager: %w", err)
	}
	if err := cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		EnableCertificatesDataSource: true,
		EnabledReconcilersFor: map[string]bool{
			cainjector.MutatingWebhookConfigurationName:   true,
			cainjector.ValidatingWebhookConfigurationName: true,
			cainjector.APIServiceName:                     true,
			cainjector.CustomResourceDefinitionName:       true,
		},
	}); err != nil {
		return fmt.Errorf("cainjector: register injectors: %w", err)
	}
	klog.InfoS("starting cainjector")
	return mgr.Start(ctx)
}

func sortedKeys(m map[string]controllerpkg.Constructor) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
