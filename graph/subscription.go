package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// OpSubscription counts requests to /v1.0/subscriptions.
const OpSubscription Operation = "subscription"

// CallRecordsResource is the resource a call-records subscription watches.
const CallRecordsResource = "/communications/callRecords"

// MaxSubscriptionLifetime is the longest expiration Graph accepts for a
// call-records subscription: 4,230 minutes, just under three days.
const MaxSubscriptionLifetime = 4230 * time.Minute

// Subscription is a change-notification subscription
// (microsoft.graph.subscription) as Graph returns it. Graph does not return
// the clientState when listing, so it is not kept here at all.
type Subscription struct {
	ID                       string    `json:"id"`
	Resource                 string    `json:"resource"`
	ChangeType               string    `json:"changeType"`
	NotificationURL          string    `json:"notificationUrl"`
	LifecycleNotificationURL string    `json:"lifecycleNotificationUrl"`
	ExpirationDateTime       time.Time `json:"expirationDateTime"`
}

// NewSubscription is what CreateSubscription asks for.
type NewSubscription struct {
	Resource                 string    `json:"resource"`
	ChangeType               string    `json:"changeType"`
	NotificationURL          string    `json:"notificationUrl"`
	LifecycleNotificationURL string    `json:"lifecycleNotificationUrl,omitempty"`
	ClientState              string    `json:"clientState"`
	ExpirationDateTime       time.Time `json:"expirationDateTime"`
}

// LogValue keeps the client state, a secret, out of log lines.
func (s NewSubscription) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("resource", s.Resource), slog.String("change_type", s.ChangeType),
		slog.String("notification_url", s.NotificationURL), slog.Time("expiration", s.ExpirationDateTime))
}

// String keeps the client state out of formatted errors and prints.
func (s NewSubscription) String() string {
	return fmt.Sprintf("subscription to %s (%s) at %s until %s", s.Resource, s.ChangeType, s.NotificationURL, s.ExpirationDateTime.Format(time.RFC3339))
}

// CreateSubscription creates a subscription. Graph first validates the
// notification URLs (it posts a validationToken that must be echoed), so
// the endpoints must already be served.
func (c *Client) CreateSubscription(ctx context.Context, s NewSubscription) (*Subscription, error) {
	var out Subscription
	if err := c.sendJSON(ctx, http.MethodPost, c.endpoint("/v1.0/subscriptions"), s, &out); err != nil {
		return nil, fmt.Errorf("create subscription: %w", err)
	}
	return &out, nil
}

// RenewSubscription moves a subscription's expiration to until, which also
// reauthorizes it. A subscription Graph no longer has gives ErrNotFound.
func (c *Client) RenewSubscription(ctx context.Context, id string, until time.Time) (*Subscription, error) {
	body := struct {
		ExpirationDateTime time.Time `json:"expirationDateTime"`
	}{until.UTC()}
	var out Subscription
	link := c.endpoint("/v1.0/subscriptions/" + url.PathEscape(id))
	if err := c.sendJSON(ctx, http.MethodPatch, link, body, &out); err != nil {
		return nil, fmt.Errorf("renew subscription: %w", err)
	}
	return &out, nil
}

// DeleteSubscription deletes a subscription; Graph answers 204 No Content.
// A subscription Graph no longer has gives ErrNotFound.
func (c *Client) DeleteSubscription(ctx context.Context, id string) error {
	link := c.endpoint("/v1.0/subscriptions/" + url.PathEscape(id))
	err := c.do(ctx, OpSubscription, func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodDelete, link, nil)
	}, nil)
	if err != nil {
		return fmt.Errorf("delete subscription: %w", err)
	}
	return nil
}

// ListSubscriptions returns the subscriptions this application created.
func (c *Client) ListSubscriptions(ctx context.Context) ([]Subscription, error) {
	var all []Subscription
	next := c.endpoint("/v1.0/subscriptions")
	for pages := 0; next != ""; pages++ {
		if pages >= maxPages {
			return nil, fmt.Errorf("list subscriptions: more than %d pages", maxPages)
		}
		var page struct {
			Value    []Subscription `json:"value"`
			NextLink string         `json:"@odata.nextLink"`
		}
		if err := c.getJSON(ctx, OpSubscription, next, &page); err != nil {
			return nil, fmt.Errorf("list subscriptions: %w", err)
		}
		if len(all)+len(page.Value) > maxPageItems {
			return nil, fmt.Errorf("list subscriptions: %w: more than %d subscriptions", ErrPageBounds, maxPageItems)
		}
		all = append(all, page.Value...)
		if page.NextLink != "" {
			if err := c.sameOrigin(page.NextLink); err != nil {
				return nil, fmt.Errorf("list subscriptions: %w", err)
			}
		}
		next = page.NextLink
	}
	return all, nil
}

// sendJSON sends v as JSON with method and decodes the answer into out.
func (c *Client) sendJSON(ctx context.Context, method, link string, v, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.do(ctx, OpSubscription, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, method, link, bytes.NewReader(b))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	}, out)
}
