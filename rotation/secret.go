package rotation

import (
	"context"
	"fmt"

	"go.uber.org/zap"
)

// rotate runs one secret's rotation, stage by stage, and never panics into
// its siblings.
func (w *invocation) rotate(ctx context.Context, it item) (res Result) {
	res = Result{Target: it.target.Name, Where: it.spec.Ref.Where()}
	start := w.r.clock.Now()
	defer w.recovered(&res)
	w.reported(&res, w.rotateSecret(ctx, it, &res), start)
	return res
}

// rotateSecret calls one function per stage; each fills in res.
func (w *invocation) rotateSecret(ctx context.Context, it item, res *Result) error {
	j := &job{it: it}
	if ok, err := w.resolve(ctx, j, res); !ok {
		return err // failed, or skipped for the cooldown
	}
	defer w.release(j, res)
	if w.req.DryRun {
		return w.planWrite(j, res)
	}
	tok, err := w.mint(ctx, j, res)
	if err != nil {
		return err
	}
	written, err := w.write(ctx, j, tok, res)
	if err != nil {
		return err
	}
	return w.verify(ctx, j, written, res)
}

// recovered turns a panic in one secret's rotation into its failure.
func (w *invocation) recovered(res *Result) {
	if p := recover(); p != nil {
		// A panic value could hold anything: report its type only.
		res.Status, res.Error = StatusFailed, &ResultError{Code: UpdateFailed, Message: fmt.Sprintf("internal error (%T)", p)}
		w.log.Error("secret failed: internal error", append(secretFields(*res), zap.String("panicType", fmt.Sprintf("%T", p)))...)
	}
}

// whereFields are a secret's log fields: store, region and what the store
// shows of it (secretName...) at the top level of every line about it.
func whereFields(wh Where) []zap.Field {
	f := make([]zap.Field, 0, 2+len(wh.Fields))
	f = append(f, zap.String("store", wh.Store), zap.String("region", wh.Region))
	for _, x := range wh.Fields {
		if x.IsNum {
			f = append(f, zap.Int64(x.Name, x.Num))
		} else {
			f = append(f, zap.String(x.Name, x.Text))
		}
	}
	return f
}

// secretFields open a secret's own lines: its target, then where it is,
// with room for the line's own fields.
func secretFields(res Result) []zap.Field {
	return append(append(make([]zap.Field, 0, 16), zap.String("target", res.Target)), whereFields(res.Where)...)
}
