package api

import (
	"context"
	"net/http"
	"regexp"
	"strings"
)

// handlerFunc is one route. vars holds the path variables. A returned error
// is written by writeError unless the handler already started the response.
type handlerFunc func(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error

type route struct {
	method  string
	pattern string
	re      *regexp.Regexp
	names   []string
	h       handlerFunc
}

// router matches method + path against patterns like moby's: "{name}" is one
// path segment and "{name:.*}" is greedy, so image references with a
// registry host, port and slashes ("/images/127.0.0.1:15000/demo/bb/push")
// route correctly. Routes are tried in registration order.
type router struct {
	routes []route
}

func newRouter() *router { return &router{} }

var varRe = regexp.MustCompile(`\{([a-zA-Z]+)(?::([^}]*))?\}`)

func (rt *router) handle(method, pattern string, h handlerFunc) {
	var names []string
	var b strings.Builder
	b.WriteString("^")
	last := 0
	for _, m := range varRe.FindAllStringSubmatchIndex(pattern, -1) {
		b.WriteString(regexp.QuoteMeta(pattern[last:m[0]]))
		names = append(names, pattern[m[2]:m[3]])
		expr := "[^/]+"
		if m[4] >= 0 {
			expr = pattern[m[4]:m[5]]
		}
		b.WriteString("(" + expr + ")")
		last = m[1]
	}
	b.WriteString(regexp.QuoteMeta(pattern[last:]))
	b.WriteString("$")
	rt.routes = append(rt.routes, route{method: method, pattern: pattern, re: regexp.MustCompile(b.String()), names: names, h: h})
}

func (rt *router) get(p string, h handlerFunc)  { rt.handle(http.MethodGet, p, h) }
func (rt *router) post(p string, h handlerFunc) { rt.handle(http.MethodPost, p, h) }
func (rt *router) head(p string, h handlerFunc) { rt.handle(http.MethodHead, p, h) }
func (rt *router) put(p string, h handlerFunc)  { rt.handle(http.MethodPut, p, h) }
func (rt *router) del(p string, h handlerFunc)  { rt.handle(http.MethodDelete, p, h) }

// lookup finds the handler for method and path, and the pattern it was
// registered with. A path that exists under another method is still "page
// not found", as dockerd answers.
func (rt *router) lookup(method, path string) (handlerFunc, string, map[string]string) {
	for _, r := range rt.routes {
		if r.method != method {
			continue
		}
		m := r.re.FindStringSubmatch(path)
		if m == nil {
			continue
		}
		vars := make(map[string]string, len(r.names))
		for i, n := range r.names {
			vars[n] = m[i+1]
		}
		return r.h, r.pattern, vars
	}
	return nil, "", nil
}
