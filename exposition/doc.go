// Package exposition serves /metrics: the registry's families and the
// call-quality families of the last saved snapshot, in the format and
// encoding the scraper negotiates. The snapshot's part, most of every
// scrape, is encoded once per snapshot and format (and cached on the
// snapshot) rather than once per scrape.
package exposition
