// Package catalog is the configuration's table of store and source kinds:
// adding a store or a source adds a line here, never code in the engine.
package catalog

import (
	"github.com/sae-secret-rotator/rotator/internal/aliyun/acr"
	"github.com/sae-secret-rotator/rotator/internal/aliyun/kms"
	"github.com/sae-secret-rotator/rotator/internal/aliyun/sae"
	"github.com/sae-secret-rotator/rotator/internal/huawei/csms"
	"github.com/sae-secret-rotator/rotator/internal/tencent/ssm"
	"github.com/sae-secret-rotator/rotator/rotation"
)

// Kinds is every store and source the function knows.
func Kinds() rotation.Catalog {
	return rotation.Catalog{
		Stores:  []rotation.StoreKind{sae.Kind{}, kms.Kind{}, csms.Kind{}, ssm.Kind{}},
		Sources: []rotation.SourceKind{acr.EEKind{}, acr.PersonalKind{}},
	}
}
