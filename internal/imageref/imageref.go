// Package imageref holds Docker's rules for naming images, shared by the
// image store and the front ends that check a name before any work starts.
package imageref

import (
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/distribution/reference"
)

// NormalizeTag checks ref against Docker's rules for new tags and returns
// its full form ("busybox" → "docker.io/library/busybox:latest").
func NormalizeTag(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", errdefs.Invalid(err)
	}
	if _, ok := named.(reference.Digested); ok {
		return "", errdefs.Invalidf("refusing to create a tag with a digest reference")
	}
	if reference.FamiliarName(named) == "sha256" {
		return "", errdefs.Invalidf("refusing to create an ambiguous tag using digest algorithm as name")
	}
	return reference.TagNameOnly(named).String(), nil
}

// ValidateTags checks build -t values before anything is read, so a bad
// tag is a plain 400 like dockerd's.
func ValidateTags(tags []string) error {
	for _, t := range tags {
		if _, err := NormalizeTag(t); err != nil {
			return err
		}
	}
	return nil
}
