# Golden values for tests/outcomes/test_golden_r.py, computed ONCE with R survival
# (R 4.2, survival 3.5.3). Run from tests/outcomes/:  Rscript r/golden.R
# R is not needed to run the tests: the outputs below are committed under data/.
library(survival)
options(digits = 17)
d <- "data"
lung2 <- survival::lung[, c("time", "status", "sex", "age", "ph.ecog")]
aml2 <- survival::aml; aml2$x <- as.character(aml2$x)
vet <- survival::veteran[, c("trt", "celltype", "time", "status", "karno", "age")]
vet$celltype <- as.character(vet$celltype)
write.csv(lung2, file.path(d, "lung.csv"), row.names = FALSE, na = "")
write.csv(aml2, file.path(d, "aml.csv"), row.names = FALSE, na = "")
write.csv(vet, file.path(d, "veteran.csv"), row.names = FALSE, na = "")

sets <- list(
  list(name = "lung", data = lung2, group = "sex", at = c(90, 180, 365, 730)),
  list(name = "aml", data = aml2, group = "x", at = c(12, 24, 36)),
  list(name = "veteran", data = vet, group = "celltype", at = c(30, 90, 180, 365))
)
km <- list(); med <- list(); lm <- list()
for (s in sets) {
  for (ct in c("log", "log-log", "plain")) {
    for (g in c("<overall>", s$group)) {
      f <- if (g == "<overall>") as.formula("Surv(time, status) ~ 1") else
        as.formula(paste("Surv(time, status) ~", g))
      fit <- survfit(f, data = s$data, conf.type = ct)
      strata <- if (is.null(fit$strata)) rep("<overall>", length(fit$time)) else
        rep(sub("^[^=]*=", "", names(fit$strata)), fit$strata)
      km[[length(km) + 1]] <- data.frame(dataset = s$name, conf_type = ct, group = strata,
        time = fit$time, n_risk = fit$n.risk, n_event = fit$n.event, n_censor = fit$n.censor,
        surv = fit$surv, std_err = fit$std.err, lower = fit$lower, upper = fit$upper)
      tab <- summary(fit)$table
      if (is.null(dim(tab))) tab <- t(as.matrix(tab))
      gn <- if (g == "<overall>") "<overall>" else sub("^[^=]*=", "", rownames(tab))
      q <- quantile(fit, 0.5)
      med[[length(med) + 1]] <- data.frame(dataset = s$name, conf_type = ct, group = gn,
        n = tab[, "n.start"], events = tab[, "events"], median = tab[, "median"],
        lcl = tab[, paste0("0.95LCL")], ucl = tab[, "0.95UCL"],
        q_median = as.numeric(q$quantile), q_lcl = as.numeric(q$lower), q_ucl = as.numeric(q$upper))
      sm <- summary(fit, times = s$at, extend = TRUE)
      sg <- if (is.null(sm$strata)) rep("<overall>", length(sm$time)) else sub("^[^=]*=", "", as.character(sm$strata))
      lm[[length(lm) + 1]] <- data.frame(dataset = s$name, conf_type = ct, group = sg, time = sm$time,
        n_risk = sm$n.risk, surv = sm$surv, lower = sm$lower, upper = sm$upper)
    }
  }
}
write.csv(do.call(rbind, km), file.path(d, "golden_km.csv"), row.names = FALSE, na = "")
write.csv(do.call(rbind, med), file.path(d, "golden_median.csv"), row.names = FALSE, na = "")
write.csv(do.call(rbind, lm), file.path(d, "golden_landmark.csv"), row.names = FALSE, na = "")

lr <- function(name, label, f, data) {
  s <- survdiff(f, data = data)
  df <- length(s$n) - 1
  if (!is.null(s$strata)) df <- nrow(as.matrix(s$obs)) - 1
  data.frame(dataset = name, test = label, chisq = s$chisq, df = df,
             p = pchisq(s$chisq, df, lower.tail = FALSE))
}
logr <- rbind(
  lr("lung", "sex", Surv(time, status) ~ sex, lung2),
  lr("aml", "x", Surv(time, status) ~ x, aml2),
  lr("veteran", "celltype", Surv(time, status) ~ celltype, vet),
  lr("veteran", "trt", Surv(time, status) ~ trt, vet),
  lr("veteran", "trt|celltype", Surv(time, status) ~ trt + strata(celltype), vet),
  lr("lung", "sex|ph.ecog", Surv(time, status) ~ sex + strata(ph.ecog), lung2[!is.na(lung2$ph.ecog), ])
)
write.csv(logr, file.path(d, "golden_logrank.csv"), row.names = FALSE)

cx <- function(name, label, f, data) {
  m <- coxph(f, data = data, ties = "efron")
  s <- summary(m)
  data.frame(dataset = name, model = label, term = rownames(s$coefficients),
             coef = s$coefficients[, "coef"], se = s$coefficients[, "se(coef)"],
             hr = s$conf.int[, "exp(coef)"], lower = s$conf.int[, "lower .95"],
             upper = s$conf.int[, "upper .95"], p = s$coefficients[, "Pr(>|z|)"])
}
cox <- rbind(
  cx("lung", "sex", Surv(time, status) ~ factor(sex), lung2),
  cx("lung", "sex+age", Surv(time, status) ~ factor(sex) + age, lung2),
  cx("aml", "x", Surv(time, status) ~ factor(x), aml2),
  cx("veteran", "celltype", Surv(time, status) ~ factor(celltype), vet),
  cx("veteran", "trt+karno", Surv(time, status) ~ factor(trt) + karno, vet)
)
write.csv(cox, file.path(d, "golden_cox.csv"), row.names = FALSE)
