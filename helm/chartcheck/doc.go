// Package chartcheck renders the drover chart with helm and decodes every
// manifest strictly into the Kubernetes API types, so a misspelt or
// misplaced field fails here instead of being dropped by the API server. It
// is its own module so drover's go.mod does not carry k8s.io/api.
package chartcheck
