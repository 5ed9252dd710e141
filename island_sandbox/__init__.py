"""The cluster sandbox: an emulated Kubernetes API server, scheduler and kubelets whose pods run
as real local processes, so a real kubectl, the tests and the demo have a cluster to talk to.
See README.md beside this file for every known difference from Kubernetes."""
