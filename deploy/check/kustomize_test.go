package check

import (
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// TestKustomizations builds the kustomization and its overlays with
// kustomize's own library (what kubectl apply -k runs) and decodes every
// object strictly: the base reads its Secret, the workload identity overlay
// runs without it, the notifications overlay exposes the notification
// listener through the Service and an Ingress of the two endpoints only,
// and the event hub overlay reads a hub with no port for notifications.
func TestKustomizations(t *testing.T) {
	for _, tc := range []struct {
		dir   string
		check func(t *testing.T, r rendered)
	}{
		{"kubernetes", func(t *testing.T, r rendered) {
			if len(r.ctr.EnvFrom) != 1 || r.ctr.EnvFrom[0].SecretRef == nil || r.ctr.EnvFrom[0].SecretRef.Optional != nil {
				t.Errorf("envFrom %v, want the Secret teams-exporter-azure, required", r.ctr.EnvFrom)
			}
			checkNoNotifications(t, r)
		}},
		{"kustomize/overlays/workload-identity", func(t *testing.T, r rendered) {
			checkWorkloadIdentity(t, r)
			checkNoNotifications(t, r)
		}},
		{"kustomize/overlays/event-hub", func(t *testing.T, r rendered) {
			checkNoNotifications(t, r)
			if !strings.HasSuffix(r.env["TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB"], ".servicebus.windows.net/teams-notifications") {
				t.Errorf("TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB %q, want the example hub", r.env["TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB"])
			}
		}},
		{"kustomize/overlays/notifications", func(t *testing.T, r rendered) {
			checkNotifications(t, r, 9869, "teams-exporter.example.com")
			if !strings.HasPrefix(r.env["TEAMS_EXPORTER_NOTIFICATION_URL"], "https://teams-exporter.example.com/") {
				t.Errorf("TEAMS_EXPORTER_NOTIFICATION_URL %q is not at the Ingress's host", r.env["TEAMS_EXPORTER_NOTIFICATION_URL"])
			}
		}},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			dir := filepath.Join(repoRoot, "deploy", tc.dir)
			res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
			if err != nil {
				t.Fatalf("kustomize build %s: %v", dir, err)
			}
			out, err := res.AsYaml()
			if err != nil {
				t.Fatal(err)
			}
			objs := decodeStrictly(t, dir, out)
			for _, o := range objs {
				checkObject(t, o)
			}
			tc.check(t, renderedOf(t, objs))
		})
	}
}

// renderedOf gathers a rendering's objects by kind, with its one
// Deployment and one Service.
func renderedOf(t *testing.T, objs []object) rendered {
	t.Helper()
	r := rendered{byKind: map[string][]object{}, env: map[string]string{}}
	for _, o := range objs {
		r.byKind[o.kind] = append(r.byKind[o.kind], o)
	}
	if len(r.byKind["Deployment"]) != 1 || len(r.byKind["Service"]) != 1 {
		t.Fatalf("want one Deployment and one Service, got %v", kindsOf(objs))
	}
	r.dep = r.byKind["Deployment"][0].value.(*appsv1.Deployment)
	r.svc = r.byKind["Service"][0].value.(*corev1.Service)
	r.ctr = r.dep.Spec.Template.Spec.Containers[0]
	for _, e := range r.ctr.Env {
		if _, dup := r.env[e.Name]; dup {
			t.Errorf("variable %s is set twice", e.Name)
		}
		r.env[e.Name] = e.Value
	}
	return r
}
