// Package kubelet runs the pod that helm/drover renders as a static pod
// under a real, standalone kubelet (no API server, no CNI) with containerd
// and runc, and checks what Kubernetes does with drover: probes, restarts
// and the stop. Set DROVER_E2E_KUBELET=1 to run it; ./setup installs what
// it needs. It is its own module so drover's go.mod does not carry
// k8s.io/api.
package kubelet
