package emulator

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PushImage pushes a small random image (one layer of 256 bytes) to
// repository:tag, through the registry's front door as a CI job would:
// go-containerregistry's remote.Write with a temporary credential of
// instanceID minted for accessKeyID. The push is recorded and faults apply;
// it succeeds only when RAM grants accessKeyID both ActionPush and
// ActionPull on the repository (Distribution asks for both). It returns the
// image's manifest digest.
func (s *Server) PushImage(ctx context.Context, instanceID, accessKeyID, repository, tag string) (string, error) {
	tok, err := s.MintToken(instanceID, accessKeyID)
	if err != nil {
		return "", err
	}
	ref, err := name.NewTag(s.RegistryHost()+"/"+repository+":"+tag, name.Insecure, name.StrictValidation)
	if err != nil {
		return "", fmt.Errorf("emulator: PushImage: %w", err)
	}
	img, err := random.Image(256, 1)
	if err != nil {
		return "", fmt.Errorf("emulator: PushImage: %w", err)
	}
	auth := &authn.Basic{Username: tok.Username, Password: tok.Password}
	if err := remote.Write(ref, img, remote.WithAuth(auth), remote.WithContext(ctx)); err != nil {
		// The error names the registry and the status; it holds no credential.
		return "", fmt.Errorf("emulator: PushImage %s:%s: %s", repository, tag, strings.ReplaceAll(err.Error(), tok.Password, "***"))
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// RegistryHost is "127.0.0.1:PORT": the registry's host for image
// references (plain http: name.Insecure).
func (s *Server) RegistryHost() string { return "127.0.0.1:" + s.port }

// Publisher is the CI identity Publish pushes as.
const Publisher = "LTAIemulatorPublisher"

// Publish pushes a small random image to repository:tag of instanceID as
// a CI job would: RAM grants Publisher pull and push on the instance's
// repositories (Distribution asks for both), and PushImage pushes as
// Publisher. Once the push succeeded the recorded calls are forgotten, so
// that Calls lists only what came after. It returns the manifest digest.
func (s *Server) Publish(ctx context.Context, instanceID, repository, tag string) (string, error) {
	for _, a := range []string{ActionPull, ActionPush} {
		if err := s.Grant(Publisher, a, "acs:cr:*:*:repository/"+instanceID+"/*"); err != nil {
			return "", err
		}
	}
	digest, err := s.PushImage(ctx, instanceID, Publisher, repository, tag)
	if err != nil {
		return "", err
	}
	s.ResetCalls()
	return digest, nil
}
