package main

import (
	"bytes"
	"log"
	"net"
	"strings"
	"testing"
)

// The banner names every service whose endpoint the printed environment
// points at the emulator, SSM included.
func TestBannerNamesEveryService(t *testing.T) {
	var out, logs bytes.Buffer
	emu, err := start("127.0.0.1:0", &out, log.New(&logs, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	name := map[string]string{"SAE": "SAE", "CR": "ACR", "REGISTRY": "registry", "KMS": "KMS", "STS": "STS", "CSMS": "CSMS", "SSM": "SSM"}
	banner := logs.String()
	for _, kv := range exports(emu.URL()) {
		svc, ok := strings.CutSuffix(strings.TrimPrefix(kv[0], "ROTATOR_"), "_ENDPOINT")
		if !ok {
			continue
		}
		if name[svc] == "" || !strings.Contains(banner, name[svc]) {
			t.Errorf("the banner does not name %s, whose endpoint it exports:\n%s", svc, banner)
		}
		if !strings.Contains(out.String(), "export "+kv[0]+"="+emu.URL()+"\n") {
			t.Errorf("%s is not printed for the other shell:\n%s", kv[0], out.String())
		}
	}
	if !strings.Contains(banner, "Personal Edition") || !strings.Contains(banner, emu.URL()) {
		t.Errorf("banner %q", banner)
	}
}

// A busy port is one clear message: the address, what is wrong, what to do.
func TestBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var out, logs bytes.Buffer
	emu, err := start(ln.Addr().String(), &out, log.New(&logs, "", 0))
	if err == nil {
		emu.Close()
		t.Fatal("started on a busy port")
	}
	want := ln.Addr().String() + " is already in use (is another emulator running?): stop it, or choose another address with -listen"
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if out.Len() > 0 {
		t.Errorf("printed an environment for a cloud that did not start:\n%s", out.String())
	}
}
