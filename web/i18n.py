"""Labels in English and Chinese, and which language a request gets. Pure except ``pick_language``.

The pages render labels server-side with ``t(key)`` and hand the same table to the scripts as
JSON, so a state name or a failure explanation reads the same in the table and the progress view.
Error messages from the service stay as the service wrote them (English): they name fields and
values the user typed, which a translation table cannot.
"""

from __future__ import annotations

LANGUAGES = ("en", "zh")
DEFAULT_LANGUAGE = "en"
LANG_COOKIE = "island_ssh_lang"

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "app.title": "Islands", "app.tagline": "One game-server island per tester",
        "nav.islands": "Islands", "nav.launch": "Launch island", "nav.logout": "Log out",
        "nav.language": "中文", "nav.signed_in_as": "Signed in as",
        "login.title": "Sign in", "login.token": "Access token", "login.submit": "Sign in",
        "login.help": "Ask an admin for your token (web.users in the server's configuration).",
        "login.failed": "That token is not known. Check it and try again.",
        "login.none_configured": "No users are configured: set web.users (token -> name) on the server.",
        "filter.mine": "Mine", "filter.all": "All", "filter.branch": "Branch", "filter.state": "State",
        "filter.any": "any", "filter.show_deleted": "Show deleted",
        "col.id": "ID", "col.name": "Name", "col.owner": "Owner", "col.branch": "Branch", "col.state": "State",
        "col.node": "Node", "col.address": "Address (host:ports)", "col.clock": "Island clock", "col.age": "Age",
        "col.registration": "Registered", "col.actions": "",
        "table.empty": "No islands here yet.", "table.live": "live", "table.polling": "polling",
        "table.offline": "offline: retrying",
        "page.pages": "pages", "page.prev": "Previous", "page.next": "Next", "page.per_page": "Per page",
        "page.info": "{from}–{to} of {total}",
        "copy.copy": "Copy", "copy.copied": "Copied", "copy.failed": "Select and copy by hand",
        "reg.yes": "registered", "reg.no": "not yet",
        "clock.real": "real time", "clock.ahead": "ahead", "clock.behind": "behind",
        "clock.presets": "Presets:", "clock.no_presets": "none configured (clock.presets)",
        "clock.freeze": "Freeze", "clock.resume": "Resume", "clock.speed10": "Speed x10", "clock.speed1": "Speed x1",
        "clock.reset": "Real time", "clock.frozen": "frozen", "clock.timeline": "Timeline",
        "clock.timeline_start": "Start timeline", "clock.timeline_cancel": "Cancel",
        "clock.timeline_help": "Steps separated by ; — at +0 set \"2021-09-18 04:59:50\"; at +2m preset weekly-reset; at +5m reset",
        "clock.history": "Clock history", "clock.who": "Who", "clock.change": "Change", "clock.read_back": "Read back",
        "clock.not_taken": "did not take",
        "clock.proof_help": "What a process under the server's libfaketime read right after the last change",
        "launch.title": "Launch an island", "launch.branch": "Branch", "launch.start_time": "Start time",
        "launch.start_time_help": "Empty = real time. Format YYYY-MM-DD HH:MM:SS (UTC).",
        "launch.advanced": "Advanced", "launch.memory": "Memory request", "launch.memory_help": "e.g. 1500Mi, 2Gi",
        "launch.image": "Image", "launch.env": "Extra environment",
        "launch.env_help": "One NAME=value per line.", "launch.owner": "Owner (admins only)",
        "launch.submit": "Launch island", "launch.sending": "Launching...",
        "progress.title": "Progress", "progress.failed": "The island did not come up",
        "progress.ready": "Ready: copy the address and connect.",
        "island.title": "Island", "island.back": "All islands", "island.details": "Details",
        "island.pod": "Pod", "island.generation": "Generation", "island.created": "Created",
        "island.ready_at": "Ready at", "island.launch": "Launched with", "island.message": "Message",
        "action.delete": "Delete", "action.restart": "Restart",
        "action.confirm_delete": "Delete island {id}? Its pod is removed and its ports are given back.",
        "action.confirm_restart": "Restart island {id}? Same id and ports, a new pod.",
        "action.only_owner": "Only the owner or an admin can change this island.",
        "action.done": "Done",
        "clockform.title": "Island clock", "clockform.absolute": "Set to", "clockform.shift": "Shift by",
        "clockform.reset": "Back to real time", "clockform.apply": "Apply",
        "clockform.absolute_help": "YYYY-MM-DD HH:MM:SS (UTC): the island reads this now",
        "clockform.shift_help": "+2d, -1h, +30m, +90s", "clockform.now": "Island time now",
        "logs.title": "Logs", "logs.tail": "Last lines", "logs.refresh": "Refresh", "logs.auto": "Auto-refresh",
        "remains.download": "Download remains",
        "remains.help": "the server's last log lines, events, pod facts and its files (tar.gz), while the pod exists",
        "logs.empty": "(no output yet)",
        "events.title": "History", "events.at": "When", "events.change": "Change", "events.reason": "Reason",
        "error.title": "Something went wrong", "error.network": "The server could not be reached.",
        "age.s": "{n}s", "age.m": "{n}m", "age.h": "{n}h", "age.d": "{n}d",
        "col.lease": "Time left", "launch.lease": "Lease",
        "launch.lease_help": "How long the island lives: 8h, 90m, 2d (empty = {default}; at most {max}).",
        "audit.title": "Audit trail (who did what)", "audit.at": "When", "audit.action": "Action",
        "audit.by": "By", "audit.detail": "Detail", "audit.none": "Nothing recorded yet.",
        "audit.automatic": "automatic", "quota.title": "Your quota",
        "lease.title": "Lease", "lease.ends": "Ends", "lease.extend": "Extend", "lease.expired": "expired",
        "lease.extend_help": "+4h adds to the end; 8h ends it 8 h from now; never more than {max} from now.",
        "lease.warned": "ending soon",
        "idle.title": "Activity", "idle.badge": "idle", "idle.last_activity": "last player connection",
        "idle.none": "none seen", "idle.checked": "checked",
        "idle.help": "An established TCP connection to one of the island's ports counts as activity; "
                     "idle after islands.idle_after without one.",
        "usage.title": "Resource use", "col.usage": "Memory", "usage.na": "not available",
        "usage.help": "The server's memory (and cpu) against its memory limit, from the cluster's metrics API "
                      "(kubectl top); orange past islands.memory_warning of the limit.",
        "codever.title": "Code version", "col.codever": "Code", "codever.outdated": "outdated",
        "codever.branch_at": "branch now", "codever.help": "The first line of the code's version file as the "
                             "island read it at start; outdated: its branch's nodes hold another version now "
                             "(restart the island to take it).",
    },
    "zh": {
        "app.title": "岛", "app.tagline": "每位测试一座独立的游戏服岛",
        "nav.islands": "岛列表", "nav.launch": "启动岛", "nav.logout": "退出",
        "nav.language": "English", "nav.signed_in_as": "当前用户",
        "login.title": "登录", "login.token": "访问令牌", "login.submit": "登录",
        "login.help": "请向管理员索取令牌（服务器配置中的 web.users）。",
        "login.failed": "令牌无效，请检查后重试。",
        "login.none_configured": "服务器未配置用户：请在 web.users 中设置（令牌 -> 名字）。",
        "filter.mine": "我的", "filter.all": "全部", "filter.branch": "分支", "filter.state": "状态",
        "filter.any": "任意", "filter.show_deleted": "显示已删除",
        "col.id": "编号", "col.name": "名称", "col.owner": "负责人", "col.branch": "分支", "col.state": "状态",
        "col.node": "节点", "col.address": "地址（主机:端口）", "col.clock": "岛时间", "col.age": "运行时长",
        "col.registration": "注册", "col.actions": "",
        "table.empty": "还没有岛。", "table.live": "实时", "table.polling": "轮询",
        "table.offline": "连接断开：重试中",
        "page.pages": "分页", "page.prev": "上一页", "page.next": "下一页", "page.per_page": "每页",
        "page.info": "第 {from}–{to} 个，共 {total} 个",
        "copy.copy": "复制", "copy.copied": "已复制", "copy.failed": "请手动选择复制",
        "reg.yes": "已注册", "reg.no": "未注册",
        "clock.real": "真实时间", "clock.ahead": "快", "clock.behind": "慢",
        "clock.presets": "预设：", "clock.no_presets": "未配置（clock.presets）",
        "clock.freeze": "冻结", "clock.resume": "继续走", "clock.speed10": "10 倍速", "clock.speed1": "正常速度",
        "clock.reset": "恢复真实时间", "clock.frozen": "已冻结", "clock.timeline": "时间线",
        "clock.timeline_start": "启动时间线", "clock.timeline_cancel": "取消",
        "clock.timeline_help": "步骤用 ; 分隔 — at +0 set \"2021-09-18 04:59:50\"; at +2m preset weekly-reset; at +5m reset",
        "clock.history": "时间修改记录", "clock.who": "操作人", "clock.change": "修改", "clock.read_back": "回读",
        "clock.not_taken": "未生效",
        "clock.proof_help": "上次修改后，在服务器 libfaketime 下运行的进程读到的时间",
        "launch.title": "启动一座岛", "launch.branch": "分支", "launch.start_time": "开服时间",
        "launch.start_time_help": "留空为真实时间。格式 YYYY-MM-DD HH:MM:SS（UTC）。",
        "launch.advanced": "高级选项", "launch.memory": "内存请求", "launch.memory_help": "例如 1500Mi、2Gi",
        "launch.image": "镜像", "launch.env": "额外环境变量",
        "launch.env_help": "每行一个 NAME=value。", "launch.owner": "负责人（仅管理员）",
        "launch.submit": "启动岛", "launch.sending": "启动中……",
        "progress.title": "进度", "progress.failed": "岛没有启动成功",
        "progress.ready": "已就绪：复制地址即可连接。",
        "island.title": "岛", "island.back": "返回列表", "island.details": "详情",
        "island.pod": "Pod", "island.generation": "代数", "island.created": "创建时间",
        "island.ready_at": "就绪时间", "island.launch": "启动参数", "island.message": "消息",
        "action.delete": "删除", "action.restart": "重启",
        "action.confirm_delete": "删除岛 {id}？其 Pod 将被移除，端口归还。",
        "action.confirm_restart": "重启岛 {id}？编号和端口不变，换一个新 Pod。",
        "action.only_owner": "只有负责人或管理员可以修改这座岛。",
        "action.done": "完成",
        "clockform.title": "岛时间", "clockform.absolute": "设为", "clockform.shift": "调快/调慢",
        "clockform.reset": "恢复真实时间", "clockform.apply": "应用",
        "clockform.absolute_help": "YYYY-MM-DD HH:MM:SS（UTC）：岛上此刻显示该时间",
        "clockform.shift_help": "+2d、-1h、+30m、+90s", "clockform.now": "岛上当前时间",
        "logs.title": "日志", "logs.tail": "最后行数", "logs.refresh": "刷新", "logs.auto": "自动刷新",
        "remains.download": "下载现场",
        "remains.help": "服务器最后的日志、事件、Pod 信息和它的文件（tar.gz），Pod 还在时可下载",
        "logs.empty": "（暂无输出）",
        "events.title": "历史", "events.at": "时间", "events.change": "变化", "events.reason": "原因",
        "error.title": "出错了", "error.network": "无法连接服务器。",
        "age.s": "{n}秒", "age.m": "{n}分", "age.h": "{n}小时", "age.d": "{n}天",
        "col.lease": "剩余时间", "launch.lease": "租期",
        "launch.lease_help": "岛存活多久：8h、90m、2d（留空为 {default}；最长 {max}）。",
        "audit.title": "审计记录（谁做了什么）", "audit.at": "时间", "audit.action": "操作",
        "audit.by": "操作者", "audit.detail": "详情", "audit.none": "暂无记录。",
        "audit.automatic": "自动", "quota.title": "你的配额",
        "lease.title": "租期", "lease.ends": "到期", "lease.extend": "延长", "lease.expired": "已到期",
        "lease.extend_help": "+4h 在到期时间上延长；8h 表示从现在起 8 小时后到期；最长为从现在起 {max}。",
        "lease.warned": "即将到期",
        "idle.title": "活动", "idle.badge": "空闲", "idle.last_activity": "最近玩家连接",
        "idle.none": "未见", "idle.checked": "检查于",
        "idle.help": "岛的端口上有已建立的 TCP 连接即算活动；超过 islands.idle_after 没有连接即为空闲。",
        "usage.title": "资源占用", "col.usage": "内存", "usage.na": "不可用",
        "usage.help": "服务器的内存（和 CPU）占用与其内存上限之比，来自集群的 metrics API（kubectl top）；"
                      "超过上限的 islands.memory_warning 时显示为橙色。",
        "codever.title": "代码版本", "col.codever": "代码", "codever.outdated": "已过期",
        "codever.branch_at": "分支当前", "codever.help": "岛启动时读到的代码版本文件的第一行；已过期：该分支的节点上"
                             "现在是另一个版本（重启岛即可使用）。",
    },
}

STATE_NAMES = {
    "en": {"allocated": "allocated", "applying": "applying", "pending": "pending",
           "unschedulable": "unschedulable", "creating": "creating", "starting": "starting", "ready": "ready",
           "failed": "failed", "terminating": "terminating", "deleted": "deleted", "lost": "lost",
           "timeout": "timed out"},
    "zh": {"allocated": "已分配", "applying": "提交中", "pending": "等待调度", "unschedulable": "无法调度",
           "creating": "创建中", "starting": "启动中", "ready": "就绪", "failed": "失败", "terminating": "删除中",
           "deleted": "已删除", "lost": "丢失", "timeout": "超时"},
}

# Kubernetes' reasons in words, for the progress view and the table's tooltip.
REASONS = {
    "en": {
        "OOMKilled": "the server ran out of memory and was killed: launch it with more memory",
        "Error": "the server exited with an error: read its logs",
        "Completed": "the server exited on its own: read its logs",
        "Evicted": "the node evicted the island (it ran short of resources)",
        "ErrImagePull": "the image could not be pulled: check the image name",
        "ImagePullBackOff": "the image could not be pulled: check the image name",
        "CrashLoopBackOff": "the server keeps crashing: read its logs",
        "CreateContainerConfigError": "the container's configuration is wrong",
        "Unschedulable": "no node can take the island right now",
        "NotReady": "the server did not become ready in time: read its logs",
        "PodMissing": "the cluster no longer has the island's pod",
    },
    "zh": {
        "OOMKilled": "服务器内存不足被杀：请用更大的内存重新启动",
        "Error": "服务器出错退出：请查看日志",
        "Completed": "服务器自行退出：请查看日志",
        "Evicted": "节点资源不足，岛被驱逐",
        "ErrImagePull": "镜像拉取失败：请检查镜像名",
        "ImagePullBackOff": "镜像拉取失败：请检查镜像名",
        "CrashLoopBackOff": "服务器反复崩溃：请查看日志",
        "CreateContainerConfigError": "容器配置有误",
        "Unschedulable": "目前没有节点能容纳这座岛",
        "NotReady": "服务器未在规定时间内就绪：请查看日志",
        "PodMissing": "集群中已找不到这座岛的 Pod",
    },
}


def labels(language: str) -> dict:
    """Everything the scripts need, in one JSON-able dict."""
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    return {"lang": language, "labels": LABELS[language], "states": STATE_NAMES[language],
            "reasons": REASONS[language]}


def translate(language: str, key: str, **values) -> str:
    table = LABELS.get(language) or LABELS[DEFAULT_LANGUAGE]
    text = table.get(key) or LABELS[DEFAULT_LANGUAGE].get(key) or key
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def choose_language(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """?lang= wins, then the cookie, then the browser's first zh/en preference."""
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LANGUAGE
