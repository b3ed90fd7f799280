"""Broadband/telecom service-floor vocabulary shared by the loader and the
load client, so that generated tickets and tickets created during the run
read alike and the search terms hit a realistic share of them.

Everything is driven by a caller-supplied random.Random, so a seed gives the
same text every time.
"""

# Each topic: weight, Chinese titles, English titles, Chinese description
# sentences, English description sentences, and how urgent it tends to be
# (a list of priorities to draw from: 1 critical .. 5 very low).
TOPICS = [
    {
        "key": "no_internet", "weight": 16,
        "zh_titles": ["宽带无法上网", "家里断网了", "突然上不了网", "拨号失败 错误691"],
        "en_titles": ["Broadband down, cannot get online", "No internet since this morning",
                      "PPPoE dial-up fails with error 691", "Internet connection lost"],
        "zh": ["从昨晚开始宽带就无法上网，电脑和手机都连不上。",
               "拨号一直提示错误691，密码没有改过。",
               "已经重启过光猫和路由器，还是不行。",
               "家里断网，孩子要上网课，请尽快处理。"],
        "en": ["Internet has been down since last night on all devices.",
               "Dial-up keeps failing with error 691, password unchanged.",
               "Already power-cycled the modem and the router, still no connection.",
               "Working from home and the line is dead, please escalate."],
        "priorities": [1, 2, 2, 3],
    },
    {
        "key": "los_light", "weight": 9,
        "zh_titles": ["光猫红灯闪烁", "光猫LOS灯亮红灯", "光猫红灯 无法上网"],
        "en_titles": ["Modem LOS light is red", "Red light on the fibre box", "Fibre box shows LOS, no service"],
        "zh": ["光猫的LOS灯一直红灯闪烁，PON灯不亮。",
               "光猫红灯，可能是光纤被装修工人碰断了。",
               "光猫(modem)背面光纤接口松动，插紧后还是红灯。"],
        "en": ["The LOS light on the modem is blinking red and PON is off.",
               "Red light on the modem after the renovation work in the hallway.",
               "Fibre patch cord into the modem looks bent; reseated it, still red."],
        "priorities": [1, 2, 2],
    },
    {
        "key": "slow", "weight": 11,
        "zh_titles": ["宽带网速慢", "晚上网速很慢", "千兆宽带只有100兆"],
        "en_titles": ["Slow broadband speed", "Speed far below plan in the evening", "Gigabit plan only gets 100 Mbps"],
        "zh": ["办的是500兆套餐，测速只有30兆左右。",
               "晚上8点到11点网速特别慢，看视频一直卡。",
               "有线连接测速也不达标，怀疑是光猫性能问题。"],
        "en": ["Paying for 500 Mbps but speed tests show about 30 Mbps.",
               "Every evening between 8 and 11 pm streaming keeps buffering.",
               "Even on a cable the speed test is far below the plan."],
        "priorities": [3, 3, 4],
    },
    {
        "key": "wifi", "weight": 8,
        "zh_titles": ["WiFi信号差", "路由器经常掉线", "无线网络连不上"],
        "en_titles": ["Wi-Fi keeps dropping", "Router disconnects every few minutes", "Cannot join the wireless network"],
        "zh": ["卧室WiFi信号很弱，经常掉线。",
               "路由器每隔几分钟就断开一次，需要重启。",
               "想加一个无线中继，请问是否支持Mesh组网。"],
        "en": ["Wi-Fi signal in the bedroom is weak and drops often.",
               "The router disconnects every few minutes and needs a reboot.",
               "Asking whether the supplied router supports a mesh extender."],
        "priorities": [3, 4, 4],
    },
    {
        "key": "plan_change", "weight": 10,
        "zh_titles": ["套餐变更", "申请升级宽带套餐", "套餐降档申请"],
        "en_titles": ["Plan change request", "Upgrade to the gigabit plan", "Downgrade my plan"],
        "zh": ["想把宽带套餐从300兆升级到1000兆，下个月生效。",
               "申请套餐变更，取消IPTV，只保留宽带和手机。",
               "合约到期了，想了解现在有什么优惠套餐。"],
        "en": ["Would like to upgrade from 300 Mbps to the gigabit plan from next month.",
               "Please change my plan: drop IPTV, keep broadband and mobile.",
               "My contract has ended, what plans can I move to now?"],
        "priorities": [4, 4, 5],
    },
    {
        "key": "invoice", "weight": 7,
        "zh_titles": ["发票开具", "申请开具增值税发票", "电子发票没有收到"],
        "en_titles": ["Invoice request", "Need a VAT invoice for the company", "E-invoice not received"],
        "zh": ["请帮忙开具上个月的电子发票，抬头为公司名称。",
               "增值税专用发票需要税号，已在附件中提供。",
               "申请的发票一直没有发到邮箱。"],
        "en": ["Please issue an e-invoice for last month's broadband fee, company title.",
               "Company VAT invoice needed, tax number attached.",
               "The invoice I requested never arrived by email."],
        "priorities": [4, 5],
    },
    {
        "key": "billing", "weight": 8,
        "zh_titles": ["账单有误", "本月话费异常", "重复扣费"],
        "en_titles": ["Billing dispute", "Unexpected charges on this month's bill", "Charged twice for broadband"],
        "zh": ["本月账单多扣了一笔月租费。",
               "账单里有一项增值业务费，我从来没有开通过。",
               "自动扣款扣了两次，请核实。"],
        "en": ["This month's bill charges the broadband rental twice.",
               "There is a value-added service on the bill I never ordered.",
               "Direct debit was taken twice, please check the billing."],
        "priorities": [3, 3, 4],
    },
    {
        "key": "refund", "weight": 5,
        "zh_titles": ["退款申请", "申请退还预存款", "故障期间费用减免"],
        "en_titles": ["Refund request", "Refund of prepaid balance", "Credit for days without service"],
        "zh": ["宽带断网三天，申请减免相应的月租费用。",
               "已销户，请退还剩余预存款。",
               "多扣的费用请原路退款。"],
        "en": ["Service was out for three days, requesting a refund for those days.",
               "Account closed, please refund the remaining prepaid balance.",
               "Please refund the duplicate charge to the original card."],
        "priorities": [3, 4],
    },
    {
        "key": "outage", "weight": 6,
        "zh_titles": ["区域网络故障", "小区大面积断网", "光缆被挖断"],
        "en_titles": ["Area outage", "Whole building offline", "Fibre cut reported in the street"],
        "zh": ["整个小区的宽带都断了，邻居也一样。",
               "附近施工挖断光缆，整栋楼无法上网。"],
        "en": ["The whole estate is offline, neighbours report the same outage.",
               "Roadworks cut the fibre, the entire building has an outage."],
        "priorities": [1, 1, 2],
    },
    {
        "key": "install", "weight": 6,
        "zh_titles": ["新装宽带预约", "宽带安装进度查询", "装机师傅没有上门"],
        "en_titles": ["New broadband installation", "Installation appointment status", "Engineer missed the install visit"],
        "zh": ["新房入住，预约周六上午安装宽带和光猫。",
               "宽带下单一周了还没有安排装机。",
               "约好的装机时间师傅没有来，也没有电话通知。"],
        "en": ["Moving in, please book the broadband and modem install for Saturday morning.",
               "Ordered a week ago and no installation date yet.",
               "The engineer did not turn up for the install appointment."],
        "priorities": [3, 3, 4],
    },
    {
        "key": "relocation", "weight": 4,
        "zh_titles": ["宽带移机", "搬家后宽带迁移"],
        "en_titles": ["Move service to new address", "Relocating the broadband line"],
        "zh": ["下个月搬家，需要把宽带移到新地址。",
               "新地址是否有光纤覆盖，移机需要多久？"],
        "en": ["Moving next month and need the line moved to the new address.",
               "Is the new address covered by fibre, and how long does a move take?"],
        "priorities": [4, 4, 5],
    },
    {
        "key": "iptv", "weight": 3,
        "zh_titles": ["IPTV无信号", "机顶盒无法播放"],
        "en_titles": ["IPTV no signal", "Set-top box will not play"],
        "zh": ["IPTV机顶盒显示无信号，上网正常。",
               "机顶盒一直在加载，无法观看直播。"],
        "en": ["The IPTV box shows no signal while the internet works.",
               "Set-top box keeps loading and live channels will not play."],
        "priorities": [3, 4],
    },
    {
        "key": "router_config", "weight": 3,
        "zh_titles": ["路由器设置", "修改WiFi密码"],
        "en_titles": ["Router setup help", "Change the Wi-Fi password"],
        "zh": ["不会设置路由器的桥接模式。",
               "想修改WiFi名称和密码，但登录不了路由器后台。"],
        "en": ["Need help putting the router behind the modem in bridge mode.",
               "Cannot log in to the router to change the Wi-Fi password."],
        "priorities": [4, 5],
    },
]

ZH_CONTEXT = [
    "客户账号：{acct}，联系电话：{phone}。",
    "装机地址：{city}{district}{n}号。",
    "客户来电反映，已做初步排查。",
    "客户要求回电时间：工作日晚上。",
]
EN_CONTEXT = [
    "Account {acct}, contact number {phone}.",
    "Service address: {n} {street}, {city_en}.",
    "Customer called in, first-line checks done.",
    "Customer prefers a call back after 6 pm.",
]

ZH_REPLIES = [
    "您好，已收到您的反馈，正在为您核查线路。",
    "请您重启光猫和路由器后再试一次。",
    "后台检测到光衰偏高，已派单给装维师傅上门处理。",
    "已为您提交套餐变更申请，次月生效。",
    "发票已开具，请查收邮箱。",
    "费用已核实，将在3个工作日内退回。",
    "区域故障已修复，请确认是否恢复正常。",
    "客户确认已恢复上网，感谢配合。",
    "已电话联系客户，约定明天上午上门。",
]
EN_REPLIES = [
    "Thanks for reaching out, we are checking the line now.",
    "Please power-cycle the modem and router and try again.",
    "Line test shows high optical loss, a field engineer has been dispatched.",
    "Your plan change has been submitted and takes effect next month.",
    "The invoice has been issued, please check your email.",
    "Billing has confirmed the charge; the refund is due within 3 working days.",
    "The area outage is fixed, please confirm the service is back.",
    "Customer confirmed the connection is back. Closing.",
    "Called the customer, engineer visit booked for tomorrow morning.",
]
ZH_CUSTOMER = [
    "还是不行，请再帮忙看一下。",
    "好的，我明天在家。",
    "已经恢复了，谢谢。",
    "什么时候能处理好？",
]
EN_CUSTOMER = [
    "Still not working, please take another look.",
    "OK, I will be home tomorrow.",
    "It is working again, thanks.",
    "When will this be fixed?",
]
ZH_RESOLUTIONS = [
    "更换光猫后恢复正常。", "重新熔接光纤，测速达标。", "套餐已变更。",
    "发票已开具并发送。", "已退款。", "区域故障修复。", "指导客户重置路由器后恢复。",
]
EN_RESOLUTIONS = [
    "Replaced the modem, service restored.", "Fibre re-spliced, speed test passes.",
    "Plan changed.", "Invoice issued and sent.", "Refund processed.",
    "Area outage repaired.", "Talked the customer through a router reset.",
]

CITIES = ["深圳市", "广州市", "上海市", "北京市", "成都市", "杭州市"]
DISTRICTS = ["南山区", "天河区", "浦东新区", "朝阳区", "武侯区", "西湖区"]
CITIES_EN = ["Shenzhen", "Guangzhou", "Shanghai", "Beijing", "Chengdu", "Hangzhou"]
STREETS = ["Keyuan Road", "Tianhe Road", "Century Avenue", "Jianguo Road", "Renmin South Road"]

_TOPIC_WEIGHTS = [t["weight"] for t in TOPICS]


def pick_topic(rng):
    return rng.choices(TOPICS, weights=_TOPIC_WEIGHTS)[0]


def pick_lang(rng):
    """zh for a Chinese-speaking customer, en for English, mixed for a
    Chinese ticket with English notes from the agent or customer."""
    r = rng.random()
    if r < 0.45:
        return "zh"
    if r < 0.85:
        return "en"
    return "mixed"


def _context(rng, lang):
    acct = f"0755{rng.randrange(10**7, 10**8)}"
    phone = f"1{rng.choice('3589')}{rng.randrange(10**8, 10**9)}"
    if lang == "en":
        return rng.choice(EN_CONTEXT).format(
            acct=acct, phone=phone, n=rng.randrange(1, 400),
            street=rng.choice(STREETS), city_en=rng.choice(CITIES_EN))
    return rng.choice(ZH_CONTEXT).format(
        acct=acct, phone=phone, n=rng.randrange(1, 400),
        city=rng.choice(CITIES), district=rng.choice(DISTRICTS))


def ticket_text(rng, topic=None, lang=None):
    """Returns (title, description, lang, topic)."""
    topic = topic or pick_topic(rng)
    lang = lang or pick_lang(rng)
    if lang == "en":
        title = rng.choice(topic["en_titles"])
        sentences = rng.sample(topic["en"], k=min(2, len(topic["en"])))
    else:
        title = rng.choice(topic["zh_titles"])
        sentences = rng.sample(topic["zh"], k=min(2, len(topic["zh"])))
        if lang == "mixed":
            sentences.append(rng.choice(topic["en"]))
    sentences.append(_context(rng, "en" if lang == "en" else "zh"))
    return title, "".join(sentences) if lang == "zh" else " ".join(sentences), lang, topic


def reply_text(rng, lang, from_customer):
    if lang == "en" or (lang == "mixed" and rng.random() < 0.5):
        return rng.choice(EN_CUSTOMER if from_customer else EN_REPLIES)
    return rng.choice(ZH_CUSTOMER if from_customer else ZH_REPLIES)


def resolution_text(rng, lang):
    return rng.choice(EN_RESOLUTIONS if lang == "en" else ZH_RESOLUTIONS)


def matches(term, *fields):
    """How SQLite's LIKE '%term%' sees it: ASCII case-insensitive."""
    t = term.lower()
    return any(f is not None and t in f.lower() for f in fields)
