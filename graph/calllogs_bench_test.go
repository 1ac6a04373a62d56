package graph

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// BenchmarkDecodeCallLogPage decodes a full page of 1,000 direct-routing
// rows as the client does: the page's envelope, then each row member by
// member. Reported per page, with bytes per page as throughput.
func BenchmarkDecodeCallLogPage(b *testing.B) {
	var page strings.Builder
	page.WriteString(`{"@odata.context":"x","@odata.count":1000,"value":[`)
	for i := range 1000 {
		if i > 0 {
			page.WriteByte(',')
		}
		page.WriteString(withMember(directRoutingRow, "id", fmt.Sprintf(`"%08d-dc14-533a-a7dd-f0da6575eed1"`, i)))
	}
	page.WriteString(`],"@odata.nextLink":"https://graph.microsoft.com/v1.0/communications/callRecords/getDirectRoutingCalls(fromDateTime=2019-11-01,toDateTime=2019-12-01)?$skip=1000"}`)
	body := []byte(page.String())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var p struct {
			Value    []jsontext.Value `json:"value"`
			NextLink string           `json:"@odata.nextLink"`
		}
		if err := decodeJSON(bytes.NewReader(body), &p, newBudget()); err != nil {
			b.Fatal(err)
		}
		for _, raw := range p.Value {
			if _, err := decodeDirectRoutingRow(raw); err != nil {
				b.Fatal(err)
			}
		}
	}
}
