package mxsandbox

import (
	"reflect"
	"testing"
)

// TestRequestLogIsBounded: the log keeps only the newest records (at most
// MaxRequestRecords), oldest first.
func TestRequestLogIsBounded(t *testing.T) {
	l := requestLog{cap: 3}
	var want []int
	for i := 1; i <= 7; i++ {
		l.add(RequestRecord{Status: i})
		want = append(want, i)
		if len(want) > 3 {
			want = want[1:]
		}
		var got []int
		for _, r := range l.all() {
			got = append(got, r.Status)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("after %d records: got %v, want %v", i, got, want)
		}
	}
	l.reset()
	if len(l.all()) != 0 {
		t.Fatal("reset keeps records")
	}

	var def requestLog
	for i := range MaxRequestRecords + 10 {
		def.add(RequestRecord{Status: i})
	}
	all := def.all()
	if len(all) != MaxRequestRecords || all[0].Status != 10 || all[len(all)-1].Status != MaxRequestRecords+9 {
		t.Fatalf("default bound: %d records from %d to %d", len(all), all[0].Status, all[len(all)-1].Status)
	}
}
