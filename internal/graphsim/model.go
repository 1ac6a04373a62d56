package graphsim

import (
	"encoding/json"
	"time"
)

// The types below follow microsoft.graph.callRecords (v1.0) field by field,
// with Graph's JSON names. Nullable numbers are pointers and marshal as JSON
// null when nil, as Graph sends them; durations are ISO 8601 strings.

// @odata.type values of endpoints and user agents.
const (
	TypeParticipantEndpoint = "#microsoft.graph.callRecords.participantEndpoint"
	TypeServiceEndpoint     = "#microsoft.graph.callRecords.serviceEndpoint"
	TypeClientUserAgent     = "#microsoft.graph.callRecords.clientUserAgent"
	TypeServiceUserAgent    = "#microsoft.graph.callRecords.serviceUserAgent"
)

// Stream directions (microsoft.graph.callRecords.mediaStreamDirection).
const (
	CallerToCallee = "callerToCallee"
	CalleeToCaller = "calleeToCaller"
)

// Record is a microsoft.graph.callRecords.callRecord with its sessions.
type Record struct {
	ID                   string        `json:"id"`
	Version              int64         `json:"version"`
	Type                 string        `json:"type"`
	Modalities           []string      `json:"modalities"`
	LastModifiedDateTime time.Time     `json:"lastModifiedDateTime"`
	StartDateTime        time.Time     `json:"startDateTime"`
	EndDateTime          time.Time     `json:"endDateTime"`
	JoinWebURL           *string       `json:"joinWebUrl"`
	Organizer            *IdentitySet  `json:"organizer"`
	Participants         []IdentitySet `json:"participants"`
	Sessions             []Session     `json:"sessions"`
}

// Session is one user-to-user or user-to-service leg of a call.
type Session struct {
	ID            string       `json:"id"`
	Modalities    []string     `json:"modalities"`
	StartDateTime time.Time    `json:"startDateTime"`
	EndDateTime   time.Time    `json:"endDateTime"`
	IsTest        bool         `json:"isTest"`
	Caller        Endpoint     `json:"caller"`
	Callee        Endpoint     `json:"callee"`
	FailureInfo   *FailureInfo `json:"failureInfo"`
	Segments      []Segment    `json:"segments"`
}

// Segment is a media link between two endpoints during part of a session.
type Segment struct {
	ID            string       `json:"id"`
	StartDateTime time.Time    `json:"startDateTime"`
	EndDateTime   time.Time    `json:"endDateTime"`
	Caller        Endpoint     `json:"caller"`
	Callee        Endpoint     `json:"callee"`
	FailureInfo   *FailureInfo `json:"failureInfo"`
	Media         []Media      `json:"media"`
}

// FailureInfo tells why a session or segment failed.
type FailureInfo struct {
	Stage  string `json:"stage"`
	Reason string `json:"reason"`
}

// Endpoint is a participantEndpoint or a serviceEndpoint, told apart by
// ODataType. Identity and Feedback exist only on participant endpoints.
type Endpoint struct {
	ODataType string        `json:"@odata.type"`
	UserAgent *UserAgent    `json:"userAgent"`
	Identity  *IdentitySet  `json:"identity,omitempty"`
	Feedback  *UserFeedback `json:"feedback,omitempty"`
}

// MarshalJSON writes the properties of the endpoint's own type only, the way
// Graph serialises the derived types: a participant endpoint carries identity
// and feedback (null when absent), a service endpoint does not.
func (e Endpoint) MarshalJSON() ([]byte, error) {
	if e.ODataType == TypeServiceEndpoint {
		return json.Marshal(struct {
			ODataType string     `json:"@odata.type"`
			UserAgent *UserAgent `json:"userAgent"`
		}{e.ODataType, e.UserAgent})
	}
	return json.Marshal(struct {
		ODataType string        `json:"@odata.type"`
		UserAgent *UserAgent    `json:"userAgent"`
		Identity  *IdentitySet  `json:"identity"`
		Feedback  *UserFeedback `json:"feedback"`
	}{e.ODataType, e.UserAgent, e.Identity, e.Feedback})
}

// UserAgent is a clientUserAgent (platform, productFamily) or a
// serviceUserAgent (role), told apart by ODataType.
type UserAgent struct {
	ODataType              string `json:"@odata.type"`
	HeaderValue            string `json:"headerValue"`
	ApplicationVersion     string `json:"applicationVersion"`
	Platform               string `json:"platform,omitempty"`
	ProductFamily          string `json:"productFamily,omitempty"`
	AzureADAppID           string `json:"azureADAppId,omitempty"`
	CommunicationServiceID string `json:"communicationServiceId,omitempty"`
	Role                   string `json:"role,omitempty"`
}

// MarshalJSON writes the properties of the user agent's own type only.
func (u UserAgent) MarshalJSON() ([]byte, error) {
	if u.ODataType == TypeServiceUserAgent {
		return json.Marshal(struct {
			ODataType          string `json:"@odata.type"`
			HeaderValue        string `json:"headerValue"`
			ApplicationVersion string `json:"applicationVersion"`
			Role               string `json:"role"`
		}{u.ODataType, u.HeaderValue, u.ApplicationVersion, u.Role})
	}
	return json.Marshal(struct {
		ODataType              string  `json:"@odata.type"`
		HeaderValue            string  `json:"headerValue"`
		ApplicationVersion     string  `json:"applicationVersion"`
		Platform               string  `json:"platform"`
		ProductFamily          *string `json:"productFamily"` // null when not given
		AzureADAppID           *string `json:"azureADAppId"`
		CommunicationServiceID *string `json:"communicationServiceId"`
	}{u.ODataType, u.HeaderValue, u.ApplicationVersion, u.Platform, nullIfEmpty(u.ProductFamily),
		nullIfEmpty(u.AzureADAppID), nullIfEmpty(u.CommunicationServiceID)})
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// IdentitySet is a microsoft.graph.identitySet (communicationsIdentitySet).
type IdentitySet struct {
	User        *Identity `json:"user,omitempty"`
	Application *Identity `json:"application,omitempty"`
	Device      *Identity `json:"device,omitempty"`
	Phone       *Identity `json:"phone,omitempty"`
	Guest       *Identity `json:"guest,omitempty"`
}

// Identity is a microsoft.graph.identity.
type Identity struct {
	ID          string  `json:"id"`
	DisplayName *string `json:"displayName"`
	TenantID    *string `json:"tenantId,omitempty"`
}

// UserFeedback is a user's rating of a session.
type UserFeedback struct {
	Text   *string         `json:"text"`
	Rating string          `json:"rating"`
	Tokens map[string]bool `json:"tokens"`
}

// Media is one media stream group (audio, video, sharing, data) of a segment.
type Media struct {
	Label         string        `json:"label"`
	CallerNetwork *NetworkInfo  `json:"callerNetwork"`
	CalleeNetwork *NetworkInfo  `json:"calleeNetwork"`
	CallerDevice  *DeviceInfo   `json:"callerDevice"`
	CalleeDevice  *DeviceInfo   `json:"calleeDevice"`
	Streams       []MediaStream `json:"streams"`
}

// NetworkInfo is one side's network for one media.
type NetworkInfo struct {
	ConnectionType            string   `json:"connectionType"`
	IPAddress                 string   `json:"ipAddress"`
	Subnet                    string   `json:"subnet"`
	ReflexiveIPAddress        string   `json:"reflexiveIPAddress"`
	RelayIPAddress            string   `json:"relayIPAddress"`
	RelayPort                 *int64   `json:"relayPort"`
	Port                      *int64   `json:"port"`
	MACAddress                string   `json:"macAddress"`
	DNSSuffix                 *string  `json:"dnsSuffix"`
	LinkSpeed                 *int64   `json:"linkSpeed"` // bits per second
	NetworkTransportProtocol  string   `json:"networkTransportProtocol"`
	SentQualityEventRatio     *float64 `json:"sentQualityEventRatio"`
	ReceivedQualityEventRatio *float64 `json:"receivedQualityEventRatio"`
	DelayEventRatio           *float64 `json:"delayEventRatio"`
	BandwidthLowEventRatio    *float64 `json:"bandwidthLowEventRatio"`
	BasicServiceSetIdentifier string   `json:"basicServiceSetIdentifier,omitempty"`
	WifiBand                  string   `json:"wifiBand,omitempty"`
	WifiRadioType             string   `json:"wifiRadioType,omitempty"`
	WifiChannel               *int64   `json:"wifiChannel,omitempty"`
	WifiSignalStrength        *int64   `json:"wifiSignalStrength,omitempty"`
	WifiVendorDriver          string   `json:"wifiVendorDriver,omitempty"`
	TraceRouteHops            []any    `json:"traceRouteHops"`
}

// DeviceInfo is one side's audio device health for one media.
type DeviceInfo struct {
	CaptureDeviceName               string   `json:"captureDeviceName"`
	CaptureDeviceDriver             string   `json:"captureDeviceDriver"`
	RenderDeviceName                string   `json:"renderDeviceName"`
	RenderDeviceDriver              string   `json:"renderDeviceDriver"`
	ReceivedSignalLevel             *int64   `json:"receivedSignalLevel"`
	ReceivedNoiseLevel              *int64   `json:"receivedNoiseLevel"`
	SentSignalLevel                 *int64   `json:"sentSignalLevel"`
	SentNoiseLevel                  *int64   `json:"sentNoiseLevel"`
	InitialSignalLevelRMS           *float64 `json:"initialSignalLevelRootMeanSquare"`
	RenderZeroVolumeEventRatio      *float64 `json:"renderZeroVolumeEventRatio"`
	RenderMuteEventRatio            *float64 `json:"renderMuteEventRatio"`
	CaptureNotFunctioningEventRatio *float64 `json:"captureNotFunctioningEventRatio"`
	CPUInsufficientEventRatio       *float64 `json:"cpuInsufficentEventRatio"` // Graph's spelling
	DeviceClippingEventRatio        *float64 `json:"deviceClippingEventRatio"`
	DeviceGlitchEventRatio          *float64 `json:"deviceGlitchEventRatio"`
	LowSpeechLevelEventRatio        *float64 `json:"lowSpeechLevelEventRatio"`
	LowSpeechToNoiseEventRatio      *float64 `json:"lowSpeechToNoiseEventRatio"`
	RenderNotFunctioningEventRatio  *float64 `json:"renderNotFunctioningEventRatio"`
	MicGlitchRate                   *float64 `json:"micGlitchRate"`
	SpeakerGlitchRate               *float64 `json:"speakerGlitchRate"`
	HowlingEventCount               *int64   `json:"howlingEventCount"`
}

// MediaStream is the quality of one direction of a media stream.
type MediaStream struct {
	StreamID                                 string    `json:"streamId"`
	StreamDirection                          string    `json:"streamDirection"`
	AudioCodec                               string    `json:"audioCodec,omitempty"`
	VideoCodec                               string    `json:"videoCodec,omitempty"`
	AverageAudioDegradation                  *float64  `json:"averageAudioDegradation"`
	AverageJitter                            *Duration `json:"averageJitter"`
	MaxJitter                                *Duration `json:"maxJitter"`
	AveragePacketLossRate                    *float64  `json:"averagePacketLossRate"`
	MaxPacketLossRate                        *float64  `json:"maxPacketLossRate"`
	AverageRatioOfConcealedSamples           *float64  `json:"averageRatioOfConcealedSamples"`
	MaxRatioOfConcealedSamples               *float64  `json:"maxRatioOfConcealedSamples"`
	AverageRoundTripTime                     *Duration `json:"averageRoundTripTime"`
	MaxRoundTripTime                         *Duration `json:"maxRoundTripTime"`
	PacketUtilization                        *int64    `json:"packetUtilization"`
	AverageBandwidthEstimate                 *int64    `json:"averageBandwidthEstimate"` // bits per second
	WasMediaBypassed                         *bool     `json:"wasMediaBypassed"`
	AverageAudioNetworkJitter                *Duration `json:"averageAudioNetworkJitter"`
	MaxAudioNetworkJitter                    *Duration `json:"maxAudioNetworkJitter"`
	AverageVideoFrameRate                    *float64  `json:"averageVideoFrameRate"`
	AverageVideoFrameLossPercentage          *float64  `json:"averageVideoFrameLossPercentage"` // 0..100
	AverageVideoPacketLossRate               *float64  `json:"averageVideoPacketLossRate"`
	AverageFreezeDuration                    *Duration `json:"averageFreezeDuration"`
	PostForwardErrorCorrectionPacketLossRate *float64  `json:"postForwardErrorCorrectionPacketLossRate"`
	LowFrameRateRatio                        *float64  `json:"lowFrameRateRatio"`
	IsAudioForwardErrorCorrectionUsed        *bool     `json:"isAudioForwardErrorCorrectionUsed"`
}

// ParseRecord decodes a callRecord as Graph serialises it (for instance a
// fixture), so that its Truth can be computed. Unknown properties are ignored.
func ParseRecord(data []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return Record{}, err
	}
	return r, nil
}
