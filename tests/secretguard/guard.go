// Package secretguard fails a test when a credential appears in anything it
// printed. Every end-to-end test of the project uses it.
package secretguard

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"testing"

	"github.com/sae-secret-rotator/rotator/emulator"
)

// Guard fails a test when a credential appears in anything printed: the
// function's stdout and stderr (logs, panics), invocation results, and the
// test's own failure messages (use g.Errorf / g.Fatalf for those that could
// carry data). It knows every token the emulator minted (the password, its
// auth value and "user:password"), every encoded docker config the secrets
// ever held, the secrets of the sessions STS AssumeRole issued, and the
// passwords of the logins the test seeded. It reports
// where a secret appeared, never the secret.
type Guard struct {
	t   testing.TB
	emu *emulator.Server

	mu      sync.Mutex
	known   []string
	outputs []output
	secrets []secretRef // secrets whose data, as stored at the end, is watched too
}

type secretRef struct {
	ns string
	id int64
}

// Track watches a secret's stored data.
func (g *Guard) Track(ns string, id int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.secrets = append(g.secrets, secretRef{ns, id})
}

type output struct {
	name string
	read func() []byte
}

// New returns a Guard that checks every watched output when the test ends.
func New(t testing.TB, emu *emulator.Server) *Guard {
	g := &Guard{t: t, emu: emu}
	t.Cleanup(g.Check)
	return g
}

// Add registers values that must never be printed.
func (g *Guard) Add(values ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, v := range values {
		if len(v) >= 6 {
			g.known = append(g.known, v)
		}
	}
}

// Watch scans a live output when the test ends.
func (g *Guard) Watch(name string, b *Buffer) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.outputs = append(g.outputs, output{name, b.Bytes})
}

// WatchBytes scans a fixed output when the test ends.
func (g *Guard) WatchBytes(name string, b []byte) {
	b = append([]byte(nil), b...)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.outputs = append(g.outputs, output{name, func() []byte { return b }})
}

// secrets is every value that must not be printed, as of now.
func (g *Guard) values() []string {
	g.mu.Lock()
	out := append([]string(nil), g.known...)
	refs := append([]secretRef(nil), g.secrets...)
	g.mu.Unlock()
	for _, tok := range g.emu.Tokens() {
		userPass := tok.Username + ":" + tok.Password
		out = append(out, tok.Password, userPass, base64.StdEncoding.EncodeToString([]byte(userPass)))
	}
	for _, c := range g.emu.AssumedCredentials() {
		out = append(out, c.AccessKeySecret, c.SecurityToken) // sessions STS AssumeRole issued
	}
	for _, c := range g.emu.Calls() {
		if c.Action == "UpdateSecret" || c.Action == "PutSecretValue" {
			// The written data: the wrapped form and every encoded config in it.
			if v := c.Query.Get("SecretData"); len(v) >= 6 {
				out = append(out, v)
			}
		}
	}
	for _, v := range g.emu.KMSValues() { // every version of every KMS secret
		if len(v) >= 6 {
			out = append(out, v)
		}
	}
	// Huawei Cloud CSMS: every value stored or written, and the SKs and tokens.
	for _, v := range g.emu.CSMSSensitive() {
		if len(v) >= 6 {
			out = append(out, v)
		}
	}
	// SSM: the Tencent keys, every value stored and every value written.
	for _, v := range g.emu.SSMSensitive() {
		if len(v) >= 6 {
			out = append(out, v)
		}
	}
	for _, r := range refs {
		if s, ok := g.emu.Secret(r.ns, r.id); ok {
			for _, v := range s.Data {
				if len(v) >= 6 {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// find says which secret appears in b, as its kind and index only.
func find(b []byte, secrets []string) (int, bool) {
	for i, s := range secrets {
		if bytes.Contains(b, []byte(s)) {
			return i, true
		}
	}
	return 0, false
}

// Check scans every watched output.
func (g *Guard) Check() {
	secrets := g.values()
	if len(secrets) == 0 {
		return
	}
	g.mu.Lock()
	outs := append([]output(nil), g.outputs...)
	g.mu.Unlock()
	for _, o := range outs {
		if i, hit := find(o.read(), secrets); hit {
			g.t.Errorf("secret guard: credential #%d appeared in %s", i, o.name)
		}
	}
}

// clean replaces known secrets in a message.
func (g *Guard) clean(msg string) (string, bool) {
	hit := false
	for _, s := range g.values() {
		if strings.Contains(msg, s) {
			msg, hit = strings.ReplaceAll(msg, s, "[credential]"), true
		}
	}
	return msg, hit
}

// Errorf reports a failure whose message may hold data from the cloud:
// credentials are masked, and their presence is a failure of its own.
func (g *Guard) Errorf(format string, args ...any) {
	g.t.Helper()
	msg, hit := g.clean(fmt.Sprintf(format, args...))
	if hit {
		msg += " (secret guard: this message held a credential, masked)"
	}
	g.t.Error(msg)
}

// Fatalf is Errorf that stops the test.
func (g *Guard) Fatalf(format string, args ...any) {
	g.t.Helper()
	g.Errorf(format, args...)
	g.t.FailNow()
}

// Protect, deferred at the top of a test, turns a panic into a failure
// whose message and stack have every credential masked.
func (g *Guard) Protect() {
	p := recover()
	if p == nil {
		return
	}
	g.t.Helper()
	msg, _ := g.clean(fmt.Sprint(p))
	stack, _ := g.clean(string(debug.Stack()))
	g.t.Fatalf("panic (credentials masked): %s\n%s", msg, stack)
}

// Buffer collects a process's output, safe for its writes and the test's reads.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Bytes is a copy of what was written so far.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}
