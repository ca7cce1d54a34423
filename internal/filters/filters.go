// Package filters parses and evaluates the Engine API's `filters` query parameter.
//
// Clients send two shapes: the map form {"key":{"value":true}} (docker CLI, Go SDKs)
// and the legacy list form {"key":["value"]} (docker-py / docker-compose 1.x).
// Both decode into Args.
package filters

// Args is a set of values per filter key.
type Args map[string]map[string]bool
