package graph

import "time"

// The types below follow the microsoft.graph.callRecords namespace. Only the
// fields the exporter uses are decoded: identities, display names, MAC
// addresses, device and driver names and free-text feedback are deliberately
// left out, so that personal data never enters the process beyond the raw
// response body. The one exception is a client's subnet and IP address, needed
// to find its building; they are of type Address, which never prints.

// CallRecord is one completed call (microsoft.graph.callRecords.callRecord).
type CallRecord struct {
	ID                   string    `json:"id"`
	Version              int64     `json:"version"`
	Type                 string    `json:"type"` // groupCall, peerToPeer, unknown
	Modalities           []string  `json:"modalities"`
	StartDateTime        time.Time `json:"startDateTime"`
	EndDateTime          time.Time `json:"endDateTime"`
	LastModifiedDateTime time.Time `json:"lastModifiedDateTime"`
	Sessions             []Session `json:"sessions"`
	// SessionsNextLink is set while more sessions remain to be fetched.
	SessionsNextLink string `json:"sessions@odata.nextLink"`
	// ImplausibleValues counts the values the client dropped from this
	// record for being outside their plausible range (see plausible.go).
	ImplausibleValues int `json:"-"`
}

// Session is one user-to-user or user-to-service leg of a call.
type Session struct {
	ID            string    `json:"id"`
	Modalities    []string  `json:"modalities"`
	StartDateTime time.Time `json:"startDateTime"`
	EndDateTime   time.Time `json:"endDateTime"`
	Caller        Endpoint  `json:"caller"`
	Callee        Endpoint  `json:"callee"`
	IsTest        bool      `json:"isTest"`
	// FailureInfo is set when the session failed (call setup failures and
	// drops).
	FailureInfo *FailureInfo `json:"failureInfo"`
	Segments    []Segment    `json:"segments"`
}

// FailureInfo tells why a session failed. Its reason is free text and is
// not decoded.
type FailureInfo struct {
	Stage string `json:"stage"` // unknown, callSetup, midcall, unknownFutureValue
}

// Segment is a stretch of a session with one set of endpoints and media.
type Segment struct {
	ID            string    `json:"id"`
	StartDateTime time.Time `json:"startDateTime"`
	EndDateTime   time.Time `json:"endDateTime"`
	Caller        Endpoint  `json:"caller"`
	Callee        Endpoint  `json:"callee"`
	Media         []Media   `json:"media"`
}

// Endpoint is either a participant (a client) or a service endpoint.
type Endpoint struct {
	ODataType string    `json:"@odata.type"`
	UserAgent UserAgent `json:"userAgent"`
	Feedback  *Feedback `json:"feedback"`
}

// Endpoint and user-agent @odata.type values.
const (
	TypeParticipantEndpoint = "#microsoft.graph.callRecords.participantEndpoint"
	TypeServiceEndpoint     = "#microsoft.graph.callRecords.serviceEndpoint"
	TypeClientUserAgent     = "#microsoft.graph.callRecords.clientUserAgent"
	TypeServiceUserAgent    = "#microsoft.graph.callRecords.serviceUserAgent"
)

// IsClient reports whether the endpoint is a user's client, as opposed to a
// server (a service user agent, or a service endpoint). A client user agent is
// recognised by its @odata.type or, when that is missing, by carrying a
// platform or product family and no service role.
func (e Endpoint) IsClient() bool {
	if e.ODataType == TypeServiceEndpoint {
		return false
	}
	switch e.UserAgent.ODataType {
	case TypeClientUserAgent:
		return true
	case TypeServiceUserAgent:
		return false
	}
	return e.UserAgent.Role == "" && (e.UserAgent.Platform != "" || e.UserAgent.ProductFamily != "")
}

// UserAgent merges clientUserAgent (platform, productFamily,
// applicationVersion) and serviceUserAgent (role). The header value is not
// decoded: it names devices.
type UserAgent struct {
	ODataType          string      `json:"@odata.type"`
	ApplicationVersion ShortString `json:"applicationVersion"` // the client's version
	Platform           string      `json:"platform"`
	ProductFamily      ShortString `json:"productFamily"` // teams, skypeForBusiness, lync, azureCommunicationServices, ...
	Role               string      `json:"role"`
}

// Feedback is a user's rating of the call. Its free text is not decoded.
type Feedback struct {
	Rating string         `json:"rating"`
	Tokens FeedbackTokens `json:"tokens"`
}

// Media is one media stream group (audio, video, sharing) of a segment.
type Media struct {
	Label         string        `json:"label"`
	CallerNetwork *NetworkInfo  `json:"callerNetwork"`
	CalleeNetwork *NetworkInfo  `json:"calleeNetwork"`
	CallerDevice  *DeviceInfo   `json:"callerDevice"`
	CalleeDevice  *DeviceInfo   `json:"calleeDevice"`
	Streams       []MediaStream `json:"streams"`
}

// NetworkInfo is one side's network. Reflexive and relay addresses, MACs,
// BSSIDs and Wi-Fi driver names are not decoded; the client's own address
// and subnet are, as Address, for the building lookup only.
type NetworkInfo struct {
	ConnectionType            string  `json:"connectionType"`
	IPAddress                 Address `json:"ipAddress"`
	Subnet                    Address `json:"subnet"`
	NetworkTransportProtocol  string  `json:"networkTransportProtocol"` // unknown, udp, tcp, unknownFutureValue
	WifiBand                  string  `json:"wifiBand"`
	WifiRadioType             string  `json:"wifiRadioType"`
	WifiSignalStrength        Number  `json:"wifiSignalStrength" plausible:"0,100"` // percent
	LinkSpeed                 Number  `json:"linkSpeed" plausible:"0,1e11"`         // bits per second
	SentQualityEventRatio     Number  `json:"sentQualityEventRatio" plausible:"0,1"`
	ReceivedQualityEventRatio Number  `json:"receivedQualityEventRatio" plausible:"0,1"`
	DelayEventRatio           Number  `json:"delayEventRatio" plausible:"0,1"`
	BandwidthLowEventRatio    Number  `json:"bandwidthLowEventRatio" plausible:"0,1"`
}

// DeviceInfo is one side's audio device health. Device and driver names are
// not decoded.
type DeviceInfo struct {
	ReceivedSignalLevel             Number `json:"receivedSignalLevel" plausible:"-200,200"`
	ReceivedNoiseLevel              Number `json:"receivedNoiseLevel" plausible:"-200,200"`
	CaptureNotFunctioningEventRatio Number `json:"captureNotFunctioningEventRatio" plausible:"0,1"`
	CPUInsufficientEventRatio       Number `json:"cpuInsufficentEventRatio" plausible:"0,1"` // Graph's spelling
	DeviceClippingEventRatio        Number `json:"deviceClippingEventRatio" plausible:"0,1"`
	DeviceGlitchEventRatio          Number `json:"deviceGlitchEventRatio" plausible:"0,1"`
	LowSpeechLevelEventRatio        Number `json:"lowSpeechLevelEventRatio" plausible:"0,1"`
	LowSpeechToNoiseEventRatio      Number `json:"lowSpeechToNoiseEventRatio" plausible:"0,1"`
	RenderNotFunctioningEventRatio  Number `json:"renderNotFunctioningEventRatio" plausible:"0,1"`
	RenderZeroVolumeEventRatio      Number `json:"renderZeroVolumeEventRatio" plausible:"0,1"`
	RenderMuteEventRatio            Number `json:"renderMuteEventRatio" plausible:"0,1"`
	MicGlitchRate                   Number `json:"micGlitchRate" plausible:"0,1e6"`     // glitches per 5 minutes
	SpeakerGlitchRate               Number `json:"speakerGlitchRate" plausible:"0,1e6"` // glitches per 5 minutes
	HowlingEventCount               Number `json:"howlingEventCount" plausible:"0,1e6"`
}

// Stream directions.
const (
	CallerToCallee = "callerToCallee"
	CalleeToCaller = "calleeToCaller"
)

// MediaStream is the quality of one direction of a media stream.
type MediaStream struct {
	StreamID        string `json:"streamId"`
	StreamDirection string `json:"streamDirection"`
	// AudioCodec and VideoCodec are Graph's audioCodec and videoCodec
	// members (opus, satin, h264, ...), as given.
	AudioCodec                               ShortString `json:"audioCodec"`
	VideoCodec                               ShortString `json:"videoCodec"`
	AverageAudioDegradation                  Number      `json:"averageAudioDegradation" plausible:"0,5"`
	AverageJitter                            Duration    `json:"averageJitter" plausible:"0,24h"`
	MaxJitter                                Duration    `json:"maxJitter" plausible:"0,24h"`
	AveragePacketLossRate                    Number      `json:"averagePacketLossRate" plausible:"0,1"`
	MaxPacketLossRate                        Number      `json:"maxPacketLossRate" plausible:"0,1"`
	AverageRatioOfConcealedSamples           Number      `json:"averageRatioOfConcealedSamples" plausible:"0,1"`
	AverageRoundTripTime                     Duration    `json:"averageRoundTripTime" plausible:"0,24h"`
	MaxRoundTripTime                         Duration    `json:"maxRoundTripTime" plausible:"0,24h"`
	PacketUtilization                        Number      `json:"packetUtilization" plausible:"0,1e10"`
	AverageBandwidthEstimate                 Number      `json:"averageBandwidthEstimate" plausible:"0,1e10"` // bits per second
	AverageAudioNetworkJitter                Duration    `json:"averageAudioNetworkJitter" plausible:"0,24h"`
	AverageVideoFrameRate                    Number      `json:"averageVideoFrameRate" plausible:"0,1000"`
	AverageVideoFrameLossPercentage          Number      `json:"averageVideoFrameLossPercentage" plausible:"0,100"` // 0..100
	AverageVideoPacketLossRate               Number      `json:"averageVideoPacketLossRate" plausible:"0,1"`
	AverageFreezeDuration                    Duration    `json:"averageFreezeDuration" plausible:"0,24h"`
	PostForwardErrorCorrectionPacketLossRate Number      `json:"postForwardErrorCorrectionPacketLossRate" plausible:"0,1"`
	LowFrameRateRatio                        Number      `json:"lowFrameRateRatio" plausible:"0,1"`
	WasMediaBypassed                         *bool       `json:"wasMediaBypassed"`
}
