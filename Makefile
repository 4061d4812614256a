# Convenience targets; the Go programs do the work.
.PHONY: package test

# dist/function.zip: main (linux/amd64, 0755) + deploy/rotator.yaml as rotator.yaml.
# deploy/rotator.yaml is a template whose instance id is a placeholder:
# -allow-placeholders packages it anyway, with a warning. A deployable
# package comes from `go run ./cmd/package` (and `s deploy`), which refuses
# placeholders.
package:
	go run ./cmd/package -o dist/function.zip -config deploy/rotator.yaml -allow-placeholders

test:
	go test -race -count=1 ./...
