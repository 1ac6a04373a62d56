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

// UserAgent merges clientUserAgent (platform, productFamily) and
// serviceUserAgent (role). The header value is not decoded: it names devices.
type UserAgent struct {
	ODataType          string `json:"@odata.type"`
	ApplicationVersion string `json:"applicationVersion"`
	Platform           string `json:"platform"`
	ProductFamily      string `json:"productFamily"`
	Role               string `json:"role"`
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
	WifiSignalStrength        Number  `json:"wifiSignalStrength"` // percent
	LinkSpeed                 Number  `json:"linkSpeed"`          // bits per second
	SentQualityEventRatio     Number  `json:"sentQualityEventRatio"`
	ReceivedQualityEventRatio Number  `json:"receivedQualityEventRatio"`
	DelayEventRatio           Number  `json:"delayEventRatio"`
	BandwidthLowEventRatio    Number  `json:"bandwidthLowEventRatio"`
}

// DeviceInfo is one side's audio device health. Device and driver names are
// not decoded.
type DeviceInfo struct {
	ReceivedSignalLevel             Number `json:"receivedSignalLevel"`
	ReceivedNoiseLevel              Number `json:"receivedNoiseLevel"`
	CaptureNotFunctioningEventRatio Number `json:"captureNotFunctioningEventRatio"`
	CPUInsufficientEventRatio       Number `json:"cpuInsufficentEventRatio"` // Graph's spelling
	DeviceClippingEventRatio        Number `json:"deviceClippingEventRatio"`
	DeviceGlitchEventRatio          Number `json:"deviceGlitchEventRatio"`
	LowSpeechLevelEventRatio        Number `json:"lowSpeechLevelEventRatio"`
	LowSpeechToNoiseEventRatio      Number `json:"lowSpeechToNoiseEventRatio"`
	RenderNotFunctioningEventRatio  Number `json:"renderNotFunctioningEventRatio"`
	RenderZeroVolumeEventRatio      Number `json:"renderZeroVolumeEventRatio"`
	RenderMuteEventRatio            Number `json:"renderMuteEventRatio"`
	MicGlitchRate                   Number `json:"micGlitchRate"`     // glitches per 5 minutes
	SpeakerGlitchRate               Number `json:"speakerGlitchRate"` // glitches per 5 minutes
	HowlingEventCount               Number `json:"howlingEventCount"`
}

// Stream directions.
const (
	CallerToCallee = "callerToCallee"
	CalleeToCaller = "calleeToCaller"
)

// MediaStream is the quality of one direction of a media stream.
type MediaStream struct {
	StreamID                                 string   `json:"streamId"`
	StreamDirection                          string   `json:"streamDirection"`
	AverageAudioDegradation                  Number   `json:"averageAudioDegradation"`
	AverageJitter                            Duration `json:"averageJitter"`
	MaxJitter                                Duration `json:"maxJitter"`
	AveragePacketLossRate                    Number   `json:"averagePacketLossRate"`
	MaxPacketLossRate                        Number   `json:"maxPacketLossRate"`
	AverageRatioOfConcealedSamples           Number   `json:"averageRatioOfConcealedSamples"`
	AverageRoundTripTime                     Duration `json:"averageRoundTripTime"`
	MaxRoundTripTime                         Duration `json:"maxRoundTripTime"`
	PacketUtilization                        Number   `json:"packetUtilization"`
	AverageBandwidthEstimate                 Number   `json:"averageBandwidthEstimate"` // bits per second
	AverageAudioNetworkJitter                Duration `json:"averageAudioNetworkJitter"`
	AverageVideoFrameRate                    Number   `json:"averageVideoFrameRate"`
	AverageVideoFrameLossPercentage          Number   `json:"averageVideoFrameLossPercentage"` // 0..100
	AverageVideoPacketLossRate               Number   `json:"averageVideoPacketLossRate"`
	AverageFreezeDuration                    Duration `json:"averageFreezeDuration"`
	PostForwardErrorCorrectionPacketLossRate Number   `json:"postForwardErrorCorrectionPacketLossRate"`
	LowFrameRateRatio                        Number   `json:"lowFrameRateRatio"`
	WasMediaBypassed                         *bool    `json:"wasMediaBypassed"`
}
