// Package deploy holds the files that run rstscope as a service for days:
// a hardened systemd unit (rstscope.service), a container recipe
// (Containerfile), a Kubernetes DaemonSet (daemonset.yaml), and a
// Prometheus scrape config with alert rules (prometheus.yml, alerts.yml).
// It has no code; its tests check those files with the tools that read
// them: systemd-analyze, podman or docker, promtool, a YAML parser.
package deploy
