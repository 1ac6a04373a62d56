// Monitoring mixin of the Teams call-quality exporter: the very dashboards
// and rules of this folder, for those who assemble their monitoring with
// jsonnet (jsonnet-bundler, kube-prometheus). Needs jsonnet 0.20 or later
// (std.parseYaml, std.get).
//
// rules/teams-exporter.rules.yml is the one source of the rules (Prometheus
// loads it as it is; deploy/ carries generated copies). The mixin applies
// _config to it:
//
//   (import 'mixin.libsonnet') + {
//     _config+:: {
//       jobSelector: 'job="teams"',
//       audioObjective: 0.99,
//       runbookURLPattern: 'https://wiki.example.com/teams-exporter/%s',
//       alerts+: {
//         TeamsExporterPollsFailing: { 'for': '15m', thresholds: { '1800': '3600' } },
//         TeamsCallQualityPoorAudioStreamsHigh: { labels: { severity: 'critical' } },
//       },
//     },
//   }
local rules = std.parseYaml(importstr 'rules/teams-exporter.rules.yml');

// What the rules file is written with, which _config replaces.
local fileJobSelector = 'job="teams-exporter"';
// The rules file's runbook_url of an alert is this with %s replaced by the
// alert's name: its page in docs/runbooks/.
local fileRunbookURLPattern = 'https://github.com/teams-exporter/teams-exporter/blob/main/docs/runbooks/%s.md';

local comparisons = ['>=', '<=', '==', '!=', '>', '<'];

// The audio quality objective the rules file and the call-quality dashboard
// are written with.
local fileAudioObjective = 0.97;

// burnRateExprs are the burn-rate alerts' expressions for an objective:
// each threshold is a burn rate times the error budget (1 - objective),
// written with %g (14.4 * 0.03 is 0.43200000000000005, %g writes 0.432).
// With the file's objective they are the file's expressions, character for
// character (TestMixinIsTheRulesFile).
local burnRateExprs(objective, minPoor) =
  local budget = 1 - objective;
  local t(burnRate) = '%g' % (burnRate * budget);
  {
    TeamsAudioQualityBudgetBurnFast: |||
      job:teams_audio_streams_poor:ratio_rate1h > %(fast)s
      and
      job:teams_audio_streams_poor:ratio_rate5m > %(fast)s
      and
      job:teams_audio_streams_poor:increase1h >= %(minPoor)d
    ||| % { fast: t(14.4), minPoor: minPoor },
    TeamsAudioQualityBudgetBurnSlow: |||
      label_replace(
        job:teams_audio_streams_poor:ratio_rate6h > %(slow)s
        and
        job:teams_audio_streams_poor:ratio_rate30m > %(slow)s
        and
        job:teams_audio_streams_poor:increase6h >= %(minPoor)d,
        "long_window", "6h", "", ""
      )
      or
      label_replace(
        job:teams_audio_streams_poor:ratio_rate3d > %(budget)s
        and
        job:teams_audio_streams_poor:ratio_rate6h > %(budget)s
        and
        job:teams_audio_streams_poor:increase6h >= %(minPoor)d,
        "long_window", "3d", "", ""
      )
    ||| % { slow: t(6), budget: t(1), minPoor: minPoor },
  };

// checkedObjective is the objective if every burn-rate threshold is a ratio
// an error ratio can exceed: under 1. Under 93.06 %, 14.4 times the budget
// is 1 or more, and the page could never fire.
local checkedObjective(objective) =
  assert std.isNumber(objective) && objective > 0 && objective < 1 :
         '_config.audioObjective must be a number between 0 and 1, not %s' % [objective];
  assert 14.4 * (1 - objective) < 1 :
         '_config.audioObjective %g gives the fast burn-rate alert a threshold of %g (14.4 x %g): an error ratio is never over 1, so the alert could never fire; use an objective of 0.9306 or more' % [objective, 14.4 * (1 - objective), 1 - objective];
  objective;

// number writes a number to six decimals without trailing zeros and
// without float noise, as the dashboard's texts want it.
local number(x) = std.rstripChars(std.rstripChars(std.format('%.6f', x), '0'), '.');

// replaceThreshold changes the number literal `from` to `to` wherever the
// expression compares with it ("<signal> <op> <number>", the rules file's
// convention).
local replaceThreshold(expr, from, to) =
  std.foldl(function(e, op) std.strReplace(e, op + ' ' + from, op + ' ' + to), comparisons, expr);

{
  _config+:: {
    // Selects the exporter's scrape job in the alerts on the target itself.
    jobSelector: fileJobSelector,
    // runbook_url of every alert: this with %s replaced by the alert's
    // name (e.g. 'https://wiki.example.com/teams/%s' or
    // 'https://runbooks.example.com/teams.html#%s').
    runbookURLPattern: fileRunbookURLPattern,
    // The audio quality objective: the share of classified audio streams
    // that must be good over 30 days. The burn-rate alerts and the
    // dashboard's objective row follow it. Between 0.9306 and 1: below,
    // the fast burn's threshold (14.4 x (1 - objective)) is 1 or more and
    // the page could never fire, so the mixin stops with an error.
    audioObjective: fileAudioObjective,
    // The poor audio streams a burn-rate alert needs in its long window
    // before it may fire: three poor calls on a quiet night (six poor
    // streams) do not page, a small tenant's total outage does.
    audioMinPoorStreams: 10,
    // Per alert name: 'for', labels to add or change, and thresholds (the
    // number literal an expression compares with, as written in the rules
    // file, to the one to use).
    alerts: {},
  },

  local config = self._config,
  local objective = checkedObjective(config.audioObjective),
  local objectiveExprs = burnRateExprs(objective, config.audioMinPoorStreams),
  local adapt(rule) =
    if !std.objectHas(rule, 'alert') then rule
    else
      local o = std.get(config.alerts, rule.alert, {});
      local expr = std.foldl(
        function(e, from) replaceThreshold(e, from, o.thresholds[from]),
        std.objectFields(std.get(o, 'thresholds', {})),
        std.strReplace(std.get(objectiveExprs, rule.alert, rule.expr), fileJobSelector, config.jobSelector),
      );
      rule {
        expr: expr,
        annotations+: {
          runbook_url: std.strReplace(config.runbookURLPattern, '%s', rule.alert),
        },
        labels+: std.get(o, 'labels', {}),
      } + (if std.objectHas(o, 'for') then { 'for': o['for'] } else {}),
  local isAlertGroup(g) = std.all([std.objectHas(r, 'alert') for r in g.rules]),
  local groups = [g { rules: [adapt(r) for r in g.rules] } for g in rules.groups],

  grafanaDashboards+:: {
    // The objective row's queries and texts are written with the file's
    // objective (0.97, 97 %).
    'teams-call-quality.json':
      if objective == fileAudioObjective then import 'teams-call-quality.json'
      else std.parseJson(std.strReplace(std.strReplace(importstr 'teams-call-quality.json',
                                                       '0.97', number(objective)),
                                        '97 %', number(100 * objective) + ' %')),
    'teams-exporter-health.json': import 'teams-exporter-health.json',
    'teams-phone.json': import 'teams-phone.json',
  },
  prometheusRules+:: {
    groups+: [g for g in groups if !isAlertGroup(g)],
  },
  prometheusAlerts+:: {
    groups+: [g for g in groups if isAlertGroup(g)],
  },
}
