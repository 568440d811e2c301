package mxsandbox

// Challenge types, as MX names them, and their integer codes (MX's MFA guide
// shows the integer form; see Options.IntegerChallengeTypes).
const (
	ChallengeText         = "TEXT"
	ChallengeOptions      = "OPTIONS"
	ChallengeToken        = "TOKEN"
	ChallengeImageData    = "IMAGE_DATA"
	ChallengeImageOptions = "IMAGE_OPTIONS"
)

var challengeTypeCodes = map[string]int{
	ChallengeText:         0,
	ChallengeOptions:      2,
	ChallengeToken:        12,
	ChallengeImageData:    13,
	ChallengeImageOptions: 14,
}

// CorrectAnswer is the MFA answer (or option value) the sandbox accepts.
const CorrectAnswer = "correct"

// tinyPNG is a 1x1 PNG used wherever a challenge carries an image.
const tinyPNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

// challengeOption is one choice of an OPTIONS or IMAGE_OPTIONS challenge.
type challengeOption struct {
	Label, Value, DataURI string
}

// challengeTemplate describes one challenge before it is given a guid.
type challengeTemplate struct {
	Type      string
	Label     string
	FieldName string
	ImageData string
	Options   []challengeOption
}

// mfaScenarios maps an mxbank password to its challenge steps: each step is
// one CHALLENGED round, presented with fresh guids.
var mfaScenarios = map[string][][]challengeTemplate{
	"challenge": {{
		{Type: ChallengeText, Label: "What city were you born in?", FieldName: "birth_city"},
	}},
	"options": {{
		{Type: ChallengeOptions, Label: "Where should we send your one-time code?", FieldName: "delivery_method", Options: []challengeOption{
			{Label: "Email j***@example.com", Value: "email"},
			{Label: "Text (***) ***-1234", Value: CorrectAnswer},
			{Label: "Call (***) ***-1234", Value: "voice"},
		}},
	}},
	"image": {{
		{Type: ChallengeImageData, Label: "What is shown in this picture?", FieldName: "image_answer", ImageData: tinyPNG},
	}},
	"token": {{
		{Type: ChallengeToken, Label: "Enter the 6-digit code we sent to your phone.", FieldName: "one_time_code"},
	}},
	"image_options": {{
		{Type: ChallengeImageOptions, Label: "Choose your security image.", FieldName: "security_image", Options: []challengeOption{
			{Label: "Mountain", Value: "mountain", DataURI: tinyPNG},
			{Label: "Lighthouse", Value: CorrectAnswer, DataURI: tinyPNG},
			{Label: "Bicycle", Value: "bicycle", DataURI: tinyPNG},
		}},
	}},
	"challenge_multi": {
		{
			{Type: ChallengeText, Label: "What city were you born in?", FieldName: "birth_city"},
		},
		{
			{Type: ChallengeText, Label: "What was the name of your first pet?", FieldName: "first_pet"},
			{Type: ChallengeOptions, Label: "Which of these streets have you lived on?", FieldName: "past_street", Options: []challengeOption{
				{Label: "Maple Avenue", Value: "maple"},
				{Label: "Canyon Road", Value: CorrectAnswer},
				{Label: "Harbor Street", Value: "harbor"},
			}},
		},
	},
}

// passwordOutcome is the final status an aggregation with this mxbank
// password ends in when no MFA is involved (or once MFA has been passed).
func passwordOutcome(password string) string {
	switch password {
	case "BAD_REQUEST", "SERVER_ERROR", "UNAVAILABLE":
		return StatusFailed
	case "UNAUTHORIZED", "INVALID", "DISABLED":
		return StatusDenied
	case "LOCKED":
		return StatusLocked
	case "IMPEDED":
		return StatusImpeded
	}
	return StatusConnected
}

// answerOutcome is the status a set of MFA answers leads to: "" when every
// answer is correct, otherwise the failure status.
func answerOutcome(values []string) string {
	rejected := false
	for _, v := range values {
		switch v {
		case "SERVER_ERROR", "UNAVAILABLE":
			return StatusFailed
		case "DISABLED":
			return StatusDenied
		case CorrectAnswer:
		default:
			rejected = true
		}
	}
	if rejected {
		return StatusRejected
	}
	return ""
}
