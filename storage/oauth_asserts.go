package storage

import (
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	fositestorage "github.com/ory/fosite/storage"
)

// fosite's compose type-asserts its storage at run time and panics on a missing
// method; these fail the build instead.
var (
	_ oauth2.CoreStorage                 = (*Store)(nil)
	_ oauth2.TokenRevocationStorage      = (*Store)(nil)
	_ pkce.PKCERequestStorage            = (*Store)(nil)
	_ openid.OpenIDConnectRequestStorage = (*Store)(nil)
	_ fosite.PARStorage                  = (*Store)(nil)
	_ fosite.ClientManager               = (*Store)(nil)
	_ fosite.Storage                     = (*Store)(nil)
	_ fositestorage.Transactional        = (*Store)(nil)
)
