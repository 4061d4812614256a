package ssm

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"

	tcssm "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/ssm/v20190923"

	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// SSM keeps no record the cooldown can use: GetSecretValue answers no time
// (the SDK's GetSecretValueResponse: SecretName, VersionId, SecretBinary,
// SecretString, RequestId), so a read leaves Secret.Changed zero (unknown),
// and the store makes no other call for one.
func TestNoChangeTime(t *testing.T) {
	var members []string
	resp := reflect.TypeOf(tcssm.GetSecretValueResponse{})
	field, _ := resp.FieldByName("Response")
	for body, i := field.Type.Elem(), 0; i < body.NumField(); i++ {
		if tag, _, _ := strings.Cut(body.Field(i).Tag.Get("json"), ","); tag != "" {
			members = append(members, tag)
		}
	}
	sort.Strings(members)
	if got := strings.Join(members, ","); got != "RequestId,SecretBinary,SecretName,SecretString,VersionId" {
		t.Fatalf("the SDK's GetSecretValue answer has the members %s: the docs and this store say it has no time", got)
	}

	emu := cloud(t)
	st, err := open(t, env(emu, key))
	if err != nil {
		t.Fatal(err)
	}
	ref := &Ref{region, "acr-pull", "current"}
	snap, err := st.Read(context.Background(), port.Credentials{}, ref)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := snap.Find(ref)
	if err != nil || !sec.Changed.IsZero() {
		t.Errorf("read: Changed %v (%v), want zero: SSM answers no change time", sec.Changed, err)
	}
	var actions []string
	for _, c := range emu.Calls() {
		actions = append(actions, c.Action)
	}
	if got := strings.Join(actions, ","); got != "GetSecretValue" {
		t.Errorf("calls %s, want GetSecretValue alone", got)
	}
}
