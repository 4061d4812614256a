package login_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"

	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

// A registry that challenges Basic (Distribution with htpasswd auth; ACR's
// registries challenge Bearer): as docker login does, the credential goes
// to GET /v2/ itself, and a pull is proven with it on tags/list.
func TestBasicRegistry(t *testing.T) {
	const user, pass = "cr_temp_user", "basic-registry-password"
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{
			"inmemory":    configuration.Parameters{},
			"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
		},
		Auth: configuration.Auth{"htpasswd": configuration.Parameters{"realm": "basic-registry", "path": htpasswd}},
	}
	cfg.HTTP.Secret = "basic-registry-http-secret"
	logrus.SetLevel(logrus.PanicLevel) // Distribution's request log: the checks below say what matters
	app := handlers.NewApp(context.Background(), cfg)
	ts := httptest.NewServer(app)
	t.Cleanup(ts.Close)
	t.Cleanup(func() { _ = app.Shutdown() })

	ref, err := name.NewTag(ts.Listener.Addr().String()+"/team/web:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, _ := random.Image(64, 1)
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: user, Password: pass})); err != nil {
		t.Fatal(err)
	}

	c := checker(t, ts.URL, 10*time.Second)
	for i, tc := range []struct {
		pass, repo string
		want       want
	}{
		{pass, "", want{ok: true}},
		{pass, "team/web", want{ok: true}},
		{pass + "x", "", want{rejected: true, status: 401, code: "UNAUTHORIZED", text: "authenticated GET /v2/ answered HTTP 401"}},
		{pass + "x", "team/web", want{rejected: true, status: 401, code: "UNAUTHORIZED", text: "pull of team/web (GET /v2/team/web/tags/list) answered HTTP 401"}},
		{pass, "team/nope", want{rejected: true, status: 404, code: "HTTP404", text: "answered HTTP 404: no repository team/nope"}},
	} {
		check(t, i, c.Login(context.Background(), domain, user, tc.pass, tc.repo), tc.pass, tc.want)
	}
}
