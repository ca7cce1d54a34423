package distribution

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// translate turns a registry client error into Docker's wording and class.
func translate(named reference.Named, err error) error {
	var te *transport.Error
	if !errors.As(err, &te) {
		if errdefs.IsClassified(err) {
			return err // already worded, e.g. an unreachable registry
		}
		if strings.Contains(err.Error(), "no child with platform") {
			return errdefs.NotFoundf("no matching manifest for %s in the manifest list entries", platformOf(err))
		}
		return fmt.Errorf("pull %s: %w", reference.FamiliarString(named), err)
	}
	code, detail := firstDiagnostic(te)
	switch {
	case code == transport.ManifestUnknownErrorCode || code == "" && te.StatusCode == http.StatusNotFound:
		return errdefs.NotFoundf("manifest for %s not found: %s", named.String(), detail)
	case code == transport.UnauthorizedErrorCode || code == transport.DeniedErrorCode ||
		code == transport.NameUnknownErrorCode || te.StatusCode == http.StatusUnauthorized:
		return errdefs.NotFoundf("pull access denied for %s, repository does not exist or may require 'docker login': %s",
			reference.FamiliarName(named), detail)
	}
	return fmt.Errorf("pull %s: %w", reference.FamiliarString(named), err)
}

// firstDiagnostic renders the registry's first error as distribution's
// errcode does: "<code in lower case words>: <message>".
func firstDiagnostic(te *transport.Error) (transport.ErrorCode, string) {
	if len(te.Errors) == 0 {
		return "", strings.ToLower(http.StatusText(te.StatusCode))
	}
	d := te.Errors[0]
	words := strings.ToLower(strings.ReplaceAll(string(d.Code), "_", " "))
	if d.Message == "" {
		return d.Code, words
	}
	return d.Code, words + ": " + d.Message
}

func platformOf(err error) string {
	s := err.Error()
	if i := strings.Index(s, "no child with platform "); i >= 0 {
		f := strings.Fields(s[i+len("no child with platform "):])
		if len(f) > 0 {
			return f[0]
		}
	}
	return "this platform"
}
