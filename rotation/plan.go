package rotation

import (
	"go.uber.org/zap"

	"github.com/sae-secret-rotator/rotator/rotation/port"
)

// item is one secret of one target selected by the plan.
type item struct {
	target *Target
	spec   SecretSpec
}

// plan selects the secrets the invocation's request (w.req, read by
// request) asks for, saying so in the log. An invocation refused (its
// configuration, its event, an unknown target, no credentials to sign
// with) is an error, before anything is read.
func (w *invocation) plan(inv Invocation, evErr error) ([]item, error) {
	r, req := w.r, w.req
	if r.cfgErr != nil {
		return nil, r.cfgErr
	}
	if evErr != nil {
		return nil, evErr
	}
	items, err := r.cfg.plan(req)
	if err != nil {
		return nil, err
	}
	fields := []zap.Field{zap.String("trigger", req.Trigger), zap.String("action", req.Action),
		zap.Bool("dryRun", req.DryRun), zap.Bool("emergency", req.Emergency), zap.Int("secrets", len(items))}
	if req.Reason != "" {
		fields = append(fields, zap.String("reason", req.Reason))
	}
	if inv.RetryCount > 0 {
		fields = append(fields, zap.Int("retryCount", inv.RetryCount))
	}
	if ce := req.CloudEvent; ce != nil {
		fields = append(fields, zap.String("eventSource", ce.Source), zap.String("eventType", ce.Type))
		fields = append(fields, r.describeEvent(*ce)...)
	}
	if req.Emergency {
		w.log.Warn("emergency rotation requested", fields...)
	} else {
		w.log.Info("rotation started", fields...)
	}
	if len(items) == 0 {
		w.log.Info("the event matches no target: nothing to do")
		return nil, nil
	}
	return items, r.checkCredentials(inv.Credentials, items)
}

// refused reports an invocation refused as a whole: nothing was read or written.
func (w *invocation) refused(rep *Report, err error) *Report {
	e := asError(err, InvalidConfig)
	rep.Error = &ResultError{Code: e.Code, Message: e.Message}
	w.log.Error("invocation refused", zap.String("code", string(e.Code)), zap.String("error", e.Message))
	return rep
}

// plan selects the secrets an event asks for.
func (c *Config) plan(req Request) ([]item, error) {
	var targets []*Target
	switch {
	case req.CloudEvent != nil:
		for i := range c.Targets {
			if t := &c.Targets[i]; t.Source.Config.Matches(*req.CloudEvent) {
				targets = append(targets, t)
			}
		}
	case len(req.Targets) > 0:
		byName := map[string]*Target{}
		for i := range c.Targets {
			byName[c.Targets[i].Name] = &c.Targets[i]
		}
		for _, name := range req.Targets {
			t, ok := byName[name]
			if !ok {
				known := make([]string, 0, len(c.Targets))
				for _, t := range c.Targets {
					known = append(known, t.Name)
				}
				return nil, errorf(UnknownTarget, "no target is named %q (configured: %v)", name, known)
			}
			targets = append(targets, t)
		}
	default:
		for i := range c.Targets {
			targets = append(targets, &c.Targets[i])
		}
	}
	var items []item
	for _, t := range targets {
		for _, s := range t.Secrets {
			items = append(items, item{target: t, spec: s})
		}
	}
	return items, nil
}

// describeEvent is what the configured sources say an event names, for
// its log line (port.EventDescriber): the first source to name a field
// names it.
func (r *Rotator) describeEvent(ev port.Event) []zap.Field {
	var out []zap.Field
	seen := map[string]bool{}
	for _, t := range r.cfg.Targets {
		d, ok := r.sources[t.Source.Type].(port.EventDescriber)
		if !ok || seen["type/"+t.Source.Type] {
			continue
		}
		seen["type/"+t.Source.Type] = true
		for _, f := range d.DescribeEvent(ev) {
			if !seen[f.Name] {
				seen[f.Name] = true
				out = append(out, zap.Any(f.Name, f.Value()))
			}
		}
	}
	return out
}

// checkCredentials lets the stores and sources that sign with the
// function's own credentials refuse an invocation that has none.
func (r *Rotator) checkCredentials(creds Credentials, items []item) error {
	for _, it := range items {
		for _, v := range []any{r.stores[it.spec.Store].store, r.sources[it.target.Source.Type]} {
			if c, ok := v.(port.CredentialChecker); ok {
				if err := c.CheckCredentials(creds); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Select tells which targets an event would rotate, in configuration
// order, without reading anything: the event's errors (InvalidEvent,
// UnknownTarget) are those its invocation would be refused with.
func (c *Config) Select(event []byte) (Request, []string, error) {
	req, err := DecodeEvent(event)
	if err != nil {
		return req, nil, err
	}
	items, err := c.plan(req)
	if err != nil {
		return req, nil, err
	}
	names := []string{}
	for _, it := range items {
		if len(names) == 0 || names[len(names)-1] != it.target.Name {
			names = append(names, it.target.Name)
		}
	}
	return req, names, nil
}
