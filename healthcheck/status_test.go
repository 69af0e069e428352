package healthcheck

import (
	"testing"
	"time"
)

func TestStatusTable(t *testing.T) {
	tests := []struct {
		st      Status
		num     int
		short   string
		desc    string
		class   ResultClass
		hasCode bool
	}{
		{StatusUnknown, 0, "UNK", "Unknown", ResultUnknown, false},
		{StatusInit, 1, "INI", "Initializing", ResultUnknown, false},
		{StatusChecked, 3, "CHECKED", "No status change", ResultNeutral, false},
		{StatusHANA, 4, "HANA", "Health analyze", ResultFailed, false},
		{StatusSockErr, 5, "SOCKERR", "Socket error", ResultFailed, false},
		{StatusL4OK, 6, "L4OK", "Layer4 check passed", ResultPassed, false},
		{StatusL4TOUT, 7, "L4TOUT", "Layer4 timeout", ResultFailed, false},
		{StatusL4CON, 8, "L4CON", "Layer4 connection problem", ResultFailed, false},
		{StatusL6OK, 9, "L6OK", "Layer6 check passed", ResultPassed, false},
		{StatusL6TOUT, 10, "L6TOUT", "Layer6 timeout", ResultFailed, false},
		{StatusL6RSP, 11, "L6RSP", "Layer6 invalid response", ResultFailed, false},
		{StatusL7TOUT, 12, "L7TOUT", "Layer7 timeout", ResultFailed, false},
		{StatusL7RSP, 13, "L7RSP", "Layer7 invalid response", ResultFailed, false},
		{StatusL7OK, 15, "L7OK", "Layer7 check passed", ResultPassed, true},
		{StatusL7OKC, 16, "L7OKC", "Layer7 check conditionally passed", ResultCondPass, true},
		{StatusL7STS, 17, "L7STS", "Layer7 wrong status", ResultFailed, true},
		{StatusProcErr, 18, "PROCERR", "External check error", ResultFailed, true},
		{StatusProcTOUT, 19, "PROCTOUT", "External check timeout", ResultFailed, true},
		{StatusProcOK, 20, "PROCOK", "External check passed", ResultPassed, true},
	}
	for _, tc := range tests {
		t.Run(tc.short, func(t *testing.T) {
			if int(tc.st) != tc.num {
				t.Errorf("value = %d, want %d", tc.st, tc.num)
			}
			if tc.st.Short() != tc.short || tc.st.String() != tc.short {
				t.Errorf("short = %q", tc.st.Short())
			}
			if tc.st.Desc() != tc.desc {
				t.Errorf("desc = %q, want %q", tc.st.Desc(), tc.desc)
			}
			if tc.st.Class() != tc.class {
				t.Errorf("class = %v, want %v", tc.st.Class(), tc.class)
			}
			if tc.st.HasCode() != tc.hasCode {
				t.Errorf("HasCode = %v", tc.st.HasCode())
			}
			if got, ok := ParseStatus(tc.short); !ok || got != tc.st {
				t.Errorf("ParseStatus(%q) = %v, %v", tc.short, got, ok)
			}
		})
	}
	if Status(2).Short() != "UNK" || Status(14).Short() != "UNK" || Status(200).Desc() != "Unknown" {
		t.Error("internal or out-of-range statuses must read as UNK")
	}
	if ResultFailed.String() != "FAILED" || ResultPassed.String() != "PASSED" || ResultCondPass.String() != "CONDPASS" || ResultUnknown.String() != "" {
		t.Error("result class names")
	}
}

func TestReason(t *testing.T) {
	tests := []struct {
		name string
		r    Result
		want string
	}{
		{"L4CON", Result{Status: StatusL4CON, Info: "Connection refused", Duration: 0},
			`, reason: Layer4 connection problem, info: "Connection refused", check duration: 0ms`},
		{"L7STS", Result{Status: StatusL7STS, Code: 503, Info: "Service Unavailable", Duration: 12*time.Millisecond + 900*time.Microsecond},
			`, reason: Layer7 wrong status, code: 503, info: "Service Unavailable", check duration: 12ms`},
		{"L7OK code 0", Result{Status: StatusL7OK, Info: "(tcp-check)", Duration: 3 * time.Millisecond},
			`, reason: Layer7 check passed, code: 0, info: "(tcp-check)", check duration: 3ms`},
		{"L4TOUT no info", Result{Status: StatusL4TOUT, Duration: 2001 * time.Millisecond},
			`, reason: Layer4 timeout, check duration: 2001ms`},
		{"HANA no duration", Result{Status: StatusHANA, Info: "Detected 10 consecutive errors, last one was: L4 unsuccessful connection", Duration: -1},
			`, reason: Health analyze, info: "Detected 10 consecutive errors, last one was: L4 unsuccessful connection"`},
		{"escaped info", Result{Status: StatusL7RSP, Info: "bad \"x\"\r\n\xff", Duration: -1},
			`, reason: Layer7 invalid response, info: "bad \x22x\x22\x0d\x0a\xff"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Reason(); got != tc.want {
				t.Errorf("Reason()\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestLogLine(t *testing.T) {
	tests := []struct {
		name   string
		kind   Kind
		backup bool
		r      Result
		h      Health
		drain  bool
		want   string
	}{
		{"failed down", KindHealth, false, Result{Status: StatusL4CON, Info: "Connection refused", Duration: 0}, Health{0, 2, 3}, false,
			`Health check for server be1/srv1 failed, reason: Layer4 connection problem, info: "Connection refused", check duration: 0ms, status: 0/2 DOWN.`},
		{"failed still up", KindHealth, true, Result{Status: StatusL7STS, Code: 500, Info: "Internal Server Error", Duration: 1 * time.Millisecond}, Health{3, 2, 3}, false,
			`Health check for backup server be1/srv1 failed, reason: Layer7 wrong status, code: 500, info: "Internal Server Error", check duration: 1ms, status: 2/3 UP.`},
		{"succeeded drain", KindHealth, false, Result{Status: StatusL7OK, Code: 200, Duration: 2 * time.Millisecond}, Health{4, 2, 3}, true,
			`Health check for server be1/srv1 succeeded, reason: Layer7 check passed, code: 200, check duration: 2ms, status: 3/3 DRAIN.`},
		{"conditionally", KindHealth, false, Result{Status: StatusL7OKC, Code: 404, Duration: 0}, Health{4, 2, 3}, false,
			`Health check for server be1/srv1 conditionally succeeded, reason: Layer7 check conditionally passed, code: 404, check duration: 0ms, status: 3/3 UP.`},
		{"agent", KindAgent, false, Result{Status: StatusL7STS, Info: "via agent : down (bad disk)", Duration: 0}, Health{0, 1, 1}, false,
			`Agent check for server be1/srv1 failed, reason: Layer7 wrong status, code: 0, info: "via agent : down (bad disk)", check duration: 0ms, status: 0/1 DOWN.`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := LogLine(tc.kind, "be1", "srv1", tc.backup, tc.r, tc.h, tc.drain)
			if got != tc.want {
				t.Errorf("LogLine\n got %s\nwant %s", got, tc.want)
			}
			rep := Report{Kind: tc.kind, Result: tc.r, Health: tc.h}
			if rep.LogLine("be1", "srv1", tc.backup, tc.drain) != got {
				t.Error("Report.LogLine differs from LogLine")
			}
		})
	}
}
