package healthcheck

import (
	"bufio"
	"io"
	"net"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// agentServer answers every connection with reply; when expectSend is set
// it first reads one line and answers only if it matches.
func agentServer(t *testing.T, reply, expectSend string) string {
	return listen(t, func(c net.Conn) {
		if expectSend != "" {
			l, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || l != expectSend {
				return
			}
		}
		io.WriteString(c, reply)
		c.Read(make([]byte, 1))
	})
}

func TestAgentCheck(t *testing.T) {
	ctx := ctxT(t)
	tests := []struct {
		name  string
		reply string
		st    Status
		info  string
		want  AgentReply
	}{
		{"percent weight", "75%\n", StatusChecked, "",
			AgentReply{Line: "75%", HasWeight: true, Weight: 75, WeightPercent: true}},
		{"drain", "drain\n", StatusChecked, "", AgentReply{Line: "drain", Admin: "drain"}},
		{"maint", "maint\r\n", StatusChecked, "", AgentReply{Line: "maint", Admin: "maint"}},
		{"down with reason", "down#bad disk\n", StatusL7STS, "via agent : down (bad disk)",
			AgentReply{Line: "down#bad disk", State: "down", Reason: "bad disk"}},
		{"fail with spaced reason", "FAIL  # disk full \n", StatusL7STS, "via agent : fail (disk full )",
			AgentReply{Line: "FAIL  # disk full ", State: "fail", Reason: "disk full "}},
		{"stopped", "stopped\n", StatusL7STS, "via agent : stopped", AgentReply{Line: "stopped", State: "stopped"}},
		{"weight maxconn up", "weight:20 maxconn:5 up\n", StatusL7OK, "via agent : up",
			AgentReply{Line: "weight:20 maxconn:5 up", State: "up", HasWeight: true, Weight: 20, HasMaxconn: true, Maxconn: 5}},
		{"commas and tabs, last wins", "up,ready\t50%,drain,80%\n", StatusL7OK, "via agent : up",
			AgentReply{Line: "up,ready\t50%,drain,80%", State: "up", Admin: "drain", HasWeight: true, Weight: 80, WeightPercent: true}},
		{"weight:NN%", "weight:33%\n", StatusChecked, "", AgentReply{Line: "weight:33%", HasWeight: true, Weight: 33, WeightPercent: true}},
		{"unknown word", "frobnicate\n", StatusChecked, "agent reports an error : frobnicate", AgentReply{Line: "frobnicate", Unknown: "frobnicate"}},
		{"up reports the unknown word", "up frob #ignored\n", StatusL7OK, "via agent : up (frob)",
			AgentReply{Line: "up frob #ignored", State: "up", Unknown: "frob", Reason: "ignored"}},
		{"bad weight warns", "weight:300\n", StatusChecked, "agent warns : Absolute weight can only be between 0 and 256 inclusive.",
			AgentReply{Line: "weight:300", Warning: "Absolute weight can only be between 0 and 256 inclusive."}},
		{"bad maxconn warns", "maxconn:x5 up\n", StatusL7OK, "via agent : up (Trailing garbage in maxconn string.)",
			AgentReply{Line: "maxconn:x5 up", State: "up", Warning: "Trailing garbage in maxconn string."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &AgentSpec{Port: portOf(agentServer(t, tc.reply, "")), Inter: 2 * time.Second}
			r, reply := a.Run(ctx, "127.0.0.1:1")
			wantResult(t, r, tc.st, 0, tc.info)
			if reply == nil || !reflect.DeepEqual(*reply, tc.want) {
				t.Fatalf("reply %+v, want %+v", reply, tc.want)
			}
		})
	}
}

func TestAgentCheckTransport(t *testing.T) {
	ctx := ctxT(t)
	t.Run("agent-send and agent-addr", func(t *testing.T) {
		addr := agentServer(t, "up 60%\n", "status web1\n")
		a := &AgentSpec{Addr: "127.0.0.1", Port: portOf(addr), Send: "status web1\n", Inter: 2 * time.Second}
		r, reply := a.Run(ctx, "192.0.2.7:80")
		wantResult(t, r, StatusL7OK, 0, "via agent : up")
		if w, ok := reply.EffectiveWeight(10); !ok || w != 6 {
			t.Fatalf("weight %d %v", w, ok)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		a := &AgentSpec{Port: portOf(closedPort(t)), Inter: time.Second}
		r, reply := a.Run(ctx, "127.0.0.1:80")
		wantResult(t, r, StatusL4CON, 0, "Connection refused")
		if reply != nil {
			t.Fatal("reply without a line")
		}
	})
	t.Run("incomplete line", func(t *testing.T) {
		addr := listen(t, func(c net.Conn) { io.WriteString(c, "up") })
		r, reply := (&AgentSpec{Port: portOf(addr), Inter: time.Second}).Run(ctx, "127.0.0.1")
		wantResult(t, r, StatusChecked, 0, "Ignoring incomplete line from agent")
		if reply != nil {
			t.Fatal("reply for an incomplete line")
		}
	})
	t.Run("empty", func(t *testing.T) {
		r, _ := (&AgentSpec{Port: portOf(listen(t, nil)), Inter: time.Second}).Run(ctx, "127.0.0.1")
		wantResult(t, r, StatusL7RSP, 0, "TCPCHK got an empty response at step 2")
	})
	t.Run("silent", func(t *testing.T) {
		r, _ := (&AgentSpec{Port: portOf(silent(t)), Inter: 150 * time.Millisecond}).Run(ctx, "127.0.0.1")
		wantResult(t, r, StatusL7TOUT, 0, "")
	})
}

func TestAgentEffectiveWeight(t *testing.T) {
	for _, tc := range []struct {
		line    string
		initial int
		want    int
		ok      bool
	}{
		{"50%", 10, 5, true},
		{"100%", 256, 256, true},
		{"200%", 200, 256, true},
		{"0%", 10, 0, true},
		{"weight:7", 100, 7, true},
		{"up", 10, 0, false},
		{"99999999999999999999%", 1, 256, true},
	} {
		r := ParseAgentReply(tc.line)
		if w, ok := r.EffectiveWeight(tc.initial); w != tc.want || ok != tc.ok {
			t.Errorf("%q initial %d: %d %v, want %d %v", tc.line, tc.initial, w, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseAgentReply(f *testing.F) {
	for _, s := range []string{"75%", "down#bad disk", "weight:20 maxconn:5 up", "up,ready\t50%", "#", "maxconn:", "weight:%", "1%%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r := ParseAgentReply(line)
		res := r.Result()
		if res.Status != StatusChecked && res.Status != StatusL7OK && res.Status != StatusL7STS {
			t.Fatalf("status %s", res.Status)
		}
		if w, ok := r.EffectiveWeight(256); ok && (w < 0 || w > 256) {
			t.Fatalf("weight %d", w)
		}
		_ = strconv.Itoa(r.Maxconn)
	})
}
