package graphsim

// Bridges to the external test package graphsim_test, whose tests compare
// generated records with simtruth (which imports graphsim).
var (
	StartTenant = startTenant
	FetchToken  = fetchToken
	ListAll     = listAll
	DRRow       = drRow
	PSTNRowAt   = pstnRowAt
)
