package deploy_test

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// timerTriggers returns the cron expressions of both files' timer triggers.
func timerExpressions(t *testing.T) (sExpr, tplExpr string) {
	t.Helper()
	s := loadSYAML(t)
	timer := triggersByType(t, s.function(t))["timer"]
	sExpr = mustString(t, "s.yaml cronExpression", mustGet(t, "s.yaml timer", timer, "triggerConfig", "cronExpression"))
	tpl := loadTemplate(t)
	for _, name := range tpl.ofType("ALIYUN::FC3::Trigger") {
		p := tpl.props(t, name)
		if p["TriggerType"] == "timer" {
			tplExpr = mustString(t, "template cronExpression", mustGet(t, name, p, "TriggerConfig", "cronExpression"))
		}
	}
	return sExpr, tplExpr
}

func TestTimerIntervalFitsTheTokenLifetime(t *testing.T) {
	sExpr, tplExpr := timerExpressions(t)
	if sExpr != tplExpr {
		t.Errorf("timer: s.yaml %q, template.yaml %q", sExpr, tplExpr)
	}
	interval, err := timerInterval(sExpr)
	if err != nil {
		t.Fatalf("timer %q: %v", sExpr, err)
	}
	// Two runs before a token expires: a failed run gets another chance.
	if half := time.Duration(tokenLifetime) * time.Second / 2; interval >= half {
		t.Errorf("timer runs every %v; a token lives %v, so the interval must be under %v", interval, time.Duration(tokenLifetime)*time.Second, half)
	}
	cfg := readYAML(t, repoPath("deploy", "rotator.yaml"))
	s := mustString(t, "deploy/rotator.yaml schedule.interval", mustGet(t, "deploy/rotator.yaml", cfg, "schedule", "interval"))
	want, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("deploy/rotator.yaml schedule.interval %q: %v", s, err)
	}
	if want != interval {
		t.Errorf("deploy/rotator.yaml schedule.interval %v, timer %q runs every %v", want, sExpr, interval)
	}
}

func TestTimerIntervalParser(t *testing.T) {
	for expr, want := range map[string]time.Duration{
		"@every 20m":                           20 * time.Minute,
		"@every 1h30m":                         90 * time.Minute,
		"0 */20 * * * *":                       20 * time.Minute,
		"0 0/15 * * * ?":                       15 * time.Minute,
		"0 5,25,45 * * * *":                    20 * time.Minute,
		"CRON_TZ=Asia/Shanghai 0 */10 * * * *": 10 * time.Minute,
		"0 7 * * * *":                          time.Hour,
		"0 0 */2 * * *":                        2 * time.Hour,
	} {
		got, err := timerInterval(expr)
		if err != nil || got != want {
			t.Errorf("timerInterval(%q) = %v, %v; want %v", expr, got, err, want)
		}
	}
	for _, bad := range []string{"", "@daily", "0 */7 * * * *", "0 0 0 * * *", "*/20 * * * *"} {
		if got, err := timerInterval(bad); err == nil {
			t.Errorf("timerInterval(%q) = %v, want an error", bad, got)
		}
	}
}

// timerInterval returns the period of an FC timer expression: "@every D" or a
// six-field cron (second minute hour day month weekday) that fires at a fixed
// step. Anything else is an error, so a schedule the test cannot judge fails
// loudly instead of passing.
func timerInterval(expr string) (time.Duration, error) {
	expr = strings.TrimSpace(expr)
	if strings.HasPrefix(expr, "CRON_TZ=") {
		_, expr, _ = strings.Cut(expr, " ")
	}
	if d, ok := strings.CutPrefix(expr, "@every "); ok {
		v, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil || v <= 0 {
			return 0, fmt.Errorf("bad @every duration %q", d)
		}
		return v, nil
	}
	f := strings.Fields(expr)
	if len(f) != 6 {
		return 0, fmt.Errorf("want @every or six cron fields, got %q", expr)
	}
	every := func(s string) bool { return s == "*" || s == "?" }
	if _, err := strconv.Atoi(f[0]); err != nil || !every(f[3]) || !every(f[4]) || !every(f[5]) {
		return 0, fmt.Errorf("only a fixed second and every day are supported: %q", expr)
	}
	minutes, err := fieldStep(f[1], 60)
	if err != nil {
		return 0, fmt.Errorf("minute field: %v", err)
	}
	if f[2] == "*" {
		return time.Duration(minutes) * time.Minute, nil
	}
	if minutes != 60 {
		return 0, fmt.Errorf("a minute step with a restricted hour field is uneven: %q", expr)
	}
	hours, err := fieldStep(f[2], 24)
	if err != nil || hours == 24 {
		return 0, fmt.Errorf("hour field %q does not repeat within a day", f[2])
	}
	return time.Duration(hours) * time.Hour, nil
}

// fieldStep returns the even gap between firings of one cron field with
// range size n ("*/20", "0/20", "5,25,45" in 60 give 20; "7" gives 60).
func fieldStep(field string, n int) (int, error) {
	if start, step, ok := strings.Cut(field, "/"); ok {
		s, err := strconv.Atoi(step)
		if err != nil || s <= 0 || n%s != 0 {
			return 0, fmt.Errorf("step %q does not divide %d evenly", field, n)
		}
		if start != "*" {
			if v, err := strconv.Atoi(start); err != nil || v >= s {
				return 0, fmt.Errorf("start of %q must be below its step", field)
			}
		}
		return s, nil
	}
	var vals []int
	for _, p := range strings.Split(field, ",") {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || v >= n {
			return 0, fmt.Errorf("unsupported field %q", field)
		}
		vals = append(vals, v)
	}
	sort.Ints(vals)
	gap := n / len(vals)
	for i, v := range vals {
		next := n + vals[0]
		if i+1 < len(vals) {
			next = vals[i+1]
		}
		if next-v != gap {
			return 0, fmt.Errorf("uneven firings in %q", field)
		}
	}
	return gap, nil
}
