//go:build !linux

package healthcheck

func newPoller() poller { return newChanPoller() }
