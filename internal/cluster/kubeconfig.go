package cluster

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
)

// ContextName is the kubeconfig context (and cluster and user) name `cluster
// up` merges into the user's kubeconfig.
const ContextName = "berth"

// kubeconfig renders a self-contained kubeconfig (certificates inline) for
// the client certificate named user. JSON is valid YAML, which is what
// kubectl and every component read.
func (p PKI) kubeconfig(server, user string) ([]byte, error) {
	ca, err := os.ReadFile(p.CA())
	if err != nil {
		return nil, err
	}
	crt, err := os.ReadFile(p.Cert(user))
	if err != nil {
		return nil, err
	}
	key, err := os.ReadFile(p.Key(user))
	if err != nil {
		return nil, err
	}
	b64 := base64.StdEncoding.EncodeToString
	cfg := map[string]any{
		"apiVersion": "v1",
		"kind":       "Config",
		"clusters": []any{map[string]any{"name": ContextName, "cluster": map[string]any{
			"server": server, "certificate-authority-data": b64(ca)}}},
		"users": []any{map[string]any{"name": ContextName, "user": map[string]any{
			"client-certificate-data": b64(crt), "client-key-data": b64(key)}}},
		"contexts": []any{map[string]any{"name": ContextName, "context": map[string]any{
			"cluster": ContextName, "user": ContextName}}},
		"current-context": ContextName,
		"preferences":     map[string]any{},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return append(b, '\n'), nil
}
