// Package errdefs defines the error classes that callers branch on.
//
// An error keeps its own message (Docker's wording, e.g. "No such container: x")
// and carries a class that the API edge maps to an HTTP status in one place.
// Callers test classes with errors.Is(err, errdefs.ErrNotFound) or the IsX helpers.
package errdefs

import (
	"errors"
	"fmt"
)

// Classes. Each maps to exactly one HTTP status in internal/api.
var (
	ErrNotFound       = errors.New("not found")        // 404
	ErrInvalid        = errors.New("invalid argument") // 400
	ErrConflict       = errors.New("conflict")         // 409
	ErrNotModified    = errors.New("not modified")     // 304
	ErrForbidden      = errors.New("forbidden")        // 403
	ErrUnauthorized   = errors.New("unauthorized")     // 401
	ErrUnavailable    = errors.New("unavailable")      // 503
	ErrNotImplemented = errors.New("not implemented")  // 501
	ErrSystem         = errors.New("system error")     // 500
)

type classed struct {
	class error
	err   error
}

func (c *classed) Error() string { return c.err.Error() }
func (c *classed) Unwrap() []error {
	return []error{c.err, c.class}
}

func wrap(class, err error) error {
	if err == nil {
		return nil
	}
	return &classed{class: class, err: err}
}

// NotFound marks err as a missing object.
func NotFound(err error) error { return wrap(ErrNotFound, err) }

// Invalid marks err as bad input from the caller.
func Invalid(err error) error { return wrap(ErrInvalid, err) }

// Conflict marks err as a clash with the object's current state.
func Conflict(err error) error { return wrap(ErrConflict, err) }

// NotModified marks a request that had nothing to do (e.g. start of a running container).
func NotModified(err error) error { return wrap(ErrNotModified, err) }

// Unauthorized marks a failed authentication.
func Unauthorized(err error) error { return wrap(ErrUnauthorized, err) }

// Forbidden marks an operation that is not allowed.
func Forbidden(err error) error { return wrap(ErrForbidden, err) }

// Unavailable marks a temporarily unreachable dependency.
func Unavailable(err error) error { return wrap(ErrUnavailable, err) }

// NotImplemented marks a feature Berth does not have.
func NotImplemented(err error) error { return wrap(ErrNotImplemented, err) }

// System marks a failure of the daemon or the host rather than of the
// request (the default for an unclassed error, said explicitly).
func System(err error) error { return wrap(ErrSystem, err) }

// NotFoundf, Invalidf and Conflictf format a message and class it in one step.
func NotFoundf(format string, a ...any) error { return NotFound(fmt.Errorf(format, a...)) }
func Invalidf(format string, a ...any) error  { return Invalid(fmt.Errorf(format, a...)) }
func Conflictf(format string, a ...any) error { return Conflict(fmt.Errorf(format, a...)) }

func IsNotFound(err error) bool    { return errors.Is(err, ErrNotFound) }
func IsInvalid(err error) bool     { return errors.Is(err, ErrInvalid) }
func IsConflict(err error) bool    { return errors.Is(err, ErrConflict) }
func IsNotModified(err error) bool { return errors.Is(err, ErrNotModified) }

// IsClassified reports whether err already carries a class.
func IsClassified(err error) bool {
	var c *classed
	return errors.As(err, &c)
}
