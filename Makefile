# Convenience targets; the Go programs do the work.
.PHONY: package test

# dist/function.zip: main (linux/amd64, 0755) + deploy/rotator.yaml as rotator.yaml.
package:
	go run ./cmd/package -o dist/function.zip -config deploy/rotator.yaml

test:
	go test -race -count=1 ./...
