// Package cluster runs the drover chart on a real one-node Kubernetes
// (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, a
// kubelet on containerd and runc, kube-proxy, a ptp + host-local pod
// network), all inside a network namespace the test creates, and checks
// what users of a Deployment meet: helm install and helm test, traffic
// through a Service while pods roll and drain, and in-place resize.
//
// Set DROVER_E2E_CLUSTER=1 to run it; ./run builds what it needs (the
// Kubernetes binaries from the Go module proxy, ~30 min the first time,
// cached in /var/cache/drover-e2e). It is its own module so drover's
// go.mod does not carry k8s.io/api.
//
// Everything it starts is stopped and everything it creates is removed at
// the end (processes, mounts, cgroups, the pods' network namespaces, CNI
// results, /var/lib/kubelet when it was not there before, the network
// namespace); TestMain fails the run when anything is left.
package cluster
