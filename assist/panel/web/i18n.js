// UI strings: Chinese first, English second.  t("key", {vars}).
const STRINGS = {
  zh: {
    title: "通话助手", floorTitle: "通话监控", lang: "English",
    connecting: "连接中…", live: "已连接", reconnecting: "连接中断，正在重连（第 {n} 次）…",
    refused: "无法登录：{reason}", closed: "连接已关闭",
    noToken: "地址中没有登录令牌", tokenMissing: "地址中没有登录令牌", tokenExpired: "令牌已过期", tokenBad: "令牌无效",
    signinFailed: "无法登录", tokenAgentId: "工号",
    tokenHow: "请向班长索取带令牌的地址，或在运行服务的机器上生成一个（make run 启动时也会打印）：",
    waiting: "等待来电", waitingHint: "来电接通后，这里会显示实时提示。",
    waitingFor: "只显示坐席 {id} 的通话。", moreAlerts: "另有 {n} 条提示",
    lastCall: "上一通：{id}，{dur}", ended: "通话已结束",
    customer: "客户", agent: "坐席", you: "我",
    mood: "客户情绪", calm: "平静", tense: "紧张", angry: "生气",
    rising: "↑ 上升", easing: "↓ 缓和", steady: "→ 平稳",
    pace: "我的语速", cpm: "字/分", target: "目标 {n}", fast: "偏快", slow: "偏慢", ok: "合适",
    interrupting: "正在打断客户（已 {s} 秒）", interrupted: "打断了客户 {s} 秒",
    interruptHint: "请先让客户说完",
    drift_fast: "语速偏快：{cpm} 字/分", drift_slow: "语速偏慢：{cpm} 字/分",
    driftHint: "目标 {target} 字/分，放慢一点", driftHintSlow: "目标 {target} 字/分，稍微加快",
    phrase: "避免说“{text}”", phraseHint: "可以说：“{instead}”",
    angerAlert: "客户情绪：{level}", angerHint: "先处理情绪，再处理问题",
    suggestions: "建议话术", why: "原因：",
    why_anger: "客户情绪变化", why_interruption: "打断了客户", "why_interruption.end": "打断刚结束",
    "why_pace.drift": "语速偏离", why_phrase: "用语不当", "why_transcript.final": "客户说的话",
    "why_transcript.partial": "正在说的话", "why_call.started": "通话开始", used: "已使用", dismiss: "忽略",
    transcript: "实时转写", transcriptOff: "转写关闭：{reason}", noReason: "未加载识别模型",
    off_no_model: "未安装识别模型", off_disabled: "管理员已关闭转写", off_bad_rate: "音频采样率与模型不符",
    timeline: "通话时间线",
    floorCount: "进行中的通话：{n}", noCalls: "当前没有进行中的通话",
    recentCount: "刚结束的通话：{n}",
    colAgent: "坐席", colCall: "通话", colDur: "时长", colFlags: "标记", review: "回顾",
    back: "← 返回列表", viewing: "查看坐席 {agent} 的通话",
    flagInterrupt: "打断 ×{n}", flagDrift: "语速{dir}", flagPhrase: "禁语 ×{n}",
    flagSugg: "建议 {n}", flagPeak: "最高 {level}", supervisorRole: "班长", agentRole: "坐席 {id}",
    openCall: "查看 ›", openCallTitle: "打开通话 {id}",
    audio_no_rtp: "{party}无音频", audio_no_audio: "{party}无音频", audio_silent: "{party}静音", audio_identical: "两路音频相同",
  },
  en: {
    title: "Call assist", floorTitle: "Floor", lang: "中文",
    connecting: "Connecting…", live: "Connected", reconnecting: "Connection lost, reconnecting (try {n})…",
    refused: "Cannot sign in: {reason}", closed: "Connection closed",
    noToken: "No sign-in token in the address", tokenMissing: "no sign-in token in the address", tokenExpired: "the token has expired",
    tokenBad: "the token is not valid", signinFailed: "Cannot sign in", tokenAgentId: "AGENT_ID",
    tokenHow: "Ask your supervisor for an address with a token, or make one on the machine running the service (make run prints one too):",
    waiting: "Waiting for a call", waitingHint: "Live prompts appear here when a call connects.",
    waitingFor: "Showing agent {id}'s calls only.", moreAlerts: "{n} more alert(s)",
    lastCall: "Last call: {id}, {dur}", ended: "Call ended",
    customer: "Customer", agent: "Agent", you: "Me",
    mood: "Customer mood", calm: "Calm", tense: "Tense", angry: "Angry",
    rising: "↑ rising", easing: "↓ easing", steady: "→ steady",
    pace: "My pace", cpm: "chars/min", target: "target {n}", fast: "fast", slow: "slow", ok: "good",
    interrupting: "Talking over the customer ({s} s)", interrupted: "Talked over the customer {s} s",
    interruptHint: "Let the customer finish first",
    drift_fast: "Too fast: {cpm} chars/min", drift_slow: "Too slow: {cpm} chars/min",
    driftHint: "Target {target} chars/min: slow down", driftHintSlow: "Target {target} chars/min: a little faster",
    phrase: "Avoid “{text}”", phraseHint: "Say instead: “{instead}”",
    angerAlert: "Customer mood: {level}", angerHint: "Handle the feelings first, then the problem",
    suggestions: "Suggested phrasing", why: "Why: ", used: "Used", dismiss: "Dismiss",
    why_anger: "the customer's mood changed", why_interruption: "you talked over the customer",
    "why_interruption.end": "an interruption just ended", "why_pace.drift": "your pace drifted",
    why_phrase: "a phrase to avoid", "why_transcript.final": "what the customer said",
    "why_transcript.partial": "what is being said", "why_call.started": "the call started",
    transcript: "Live transcript", transcriptOff: "Transcription off: {reason}", noReason: "no recognition model",
    off_no_model: "no recognition model installed", off_disabled: "turned off by the admin",
    off_bad_rate: "audio rate does not suit the model",
    timeline: "Talk timeline",
    floorCount: "Live calls: {n}", noCalls: "No live calls",
    recentCount: "Just ended: {n}",
    colAgent: "Agent", colCall: "Call", colDur: "Duration", colFlags: "Flags", review: "Review",
    back: "← Back to the floor", viewing: "Viewing agent {agent}'s call",
    flagInterrupt: "interrupted ×{n}", flagDrift: "pace {dir}", flagPhrase: "phrases ×{n}",
    flagSugg: "suggestions {n}", flagPeak: "peak {level}", supervisorRole: "Supervisor", agentRole: "Agent {id}",
    openCall: "Open ›", openCallTitle: "Open call {id}",
    audio_no_rtp: "no audio: {party}", audio_no_audio: "no audio: {party}", audio_silent: "silent: {party}", audio_identical: "same audio on both streams",
  },
};

let lang = "zh";

export function setLang(l) {
  lang = STRINGS[l] ? l : "zh";
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
}

export function getLang() {
  return lang;
}

export function t(key, vars = {}) {
  const s = STRINGS[lang][key] ?? STRINGS.zh[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
}

export function clock(sec) {
  const s = Math.max(0, Math.floor(sec));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}
