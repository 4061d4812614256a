package rotation

import (
	"encoding/json"
	"errors"

	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// Tiny kinds for the engine's internal tests. The real catalog
// (internal/catalog) imports this package, so tests here cannot use it; the
// configuration itself is tested there, with the real kinds.
var testCatalog = Catalog{Stores: []StoreKind{testStore{}}, Sources: []SourceKind{testSource{}}}

// testStore is a store whose secrets are named by `name` alone.
type testStore struct{}

func (testStore) Name() string            { return "test-store" }
func (testStore) NewRef() SecretRef       { return &testRef{} }
func (testStore) Open(Env) (Store, error) { return nil, errors.New("test-store: not openable") }

type testRef struct {
	Name string `json:"name"`
}

func (r *testRef) Validate() error {
	if r.Name == "" {
		return errors.New("name: is required")
	}
	return nil
}
func (r *testRef) Key() string   { return r.Name }
func (r *testRef) Group() string { return r.Name }
func (r *testRef) Where() Where {
	return Where{Store: "test-store", Fields: []port.Field{port.String("secretName", r.Name)}}
}
func (r *testRef) Describe() string { return r.Where().Describe() }

// testSource is a source that an event names by instance.
type testSource struct{}

func (testSource) Name() string             { return "test-source" }
func (testSource) NewConfig() SourceConfig  { return &testSourceConfig{} }
func (testSource) Open(Env) (Source, error) { return nil, errors.New("test-source: not openable") }

type testSourceConfig struct {
	Instance string `json:"instance"`
}

func (c *testSourceConfig) Validate() error  { return nil }
func (c *testSourceConfig) Key() string      { return c.Instance }
func (c *testSourceConfig) Describe() string { return "test-source " + c.Instance }
func (c *testSourceConfig) Matches(ev port.Event) bool {
	var data struct{ Instance string }
	return json.Unmarshal(ev.Data, &data) == nil && data.Instance != "" && data.Instance == c.Instance
}
